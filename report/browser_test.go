package report_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// browser is Debian's chromium, which .ci/run installs. Without it the
// browser tests skip — or fail, when CI is set.
func browser(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	pgtest.SkipOrFail(t, "no chromium: the report's pages are rendered in a real headless browser; install Debian's (apt-get install -y chromium), as .ci/run does")
	return ""
}

// headless runs chromium headless on the page with args, in a profile of
// its own, and returns its standard output. Every request but the page
// itself is refused: the proxy is a closed port and host names resolve
// nowhere, so a page that fetched anything would render without it.
func headless(t testing.TB, page string, args ...string) []byte {
	t.Helper()
	bin := browser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(),
		"--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
		"--hide-scrollbars",
	}, args...)
	full = append(full, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, full...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.Bytes()
}

// dumpDOM is the page's DOM after chromium loaded it and ran its script;
// with scripts false, a copy of the page without its script is loaded
// instead (headless chromium with scripts disabled dumps nothing, as
// --dump-dom serialises through script).
func dumpDOM(t testing.TB, page string, scripts bool) string {
	t.Helper()
	if !scripts {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		i, j := bytes.Index(b, []byte("<script>")), bytes.LastIndex(b, []byte("</script>"))
		if i < 0 || j < i {
			t.Fatalf("%s has no script to leave out", page)
		}
		page = writePage(t, append(append([]byte{}, b[:i]...), b[j+len("</script>"):]...))
	}
	return string(headless(t, page, "--dump-dom", "--virtual-time-budget=2000"))
}

// screenshot renders the page to a PNG of width x height and decodes it.
func screenshot(t testing.TB, page, file string, width, height int) image.Image {
	t.Helper()
	headless(t, page, "--screenshot="+file, "--window-size="+itoa(width)+","+itoa(height), "--virtual-time-budget=2000")
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	return img
}

// notBlank checks the picture has content: many colours, and a fair part
// of it not background.
func notBlank(t testing.TB, img image.Image) {
	t.Helper()
	b := img.Bounds()
	colours := map[[3]uint32]bool{}
	bg := img.At(b.Min.X, b.Min.Y)
	br, bgG, bb, _ := bg.RGBA()
	var differ, total int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			total++
			if r != br || g != bgG || bl != bb {
				differ++
			}
		}
	}
	if len(colours) < 32 || differ*100 < total*3 {
		t.Fatalf("the screenshot looks blank: %d colours, %d of %d sampled pixels differ from the background", len(colours), differ, total)
	}
	t.Logf("screenshot %dx%d: %d colours, %.1f%% not background", b.Dx(), b.Dy(), len(colours), 100*float64(differ)/float64(total))
}

func itoa(n int) string { return fmtInt(n) }

// printedOnA4 prints the page to PDF as chromium would on paper, and
// checks every page of it is A4 (595 x 842 points, the page's @page size);
// it returns the number of pages.
func printedOnA4(t testing.TB, page string) int {
	t.Helper()
	pdf := filepath.Join(t.TempDir(), "page.pdf")
	headless(t, page, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatalf("chromium printed no PDF: %v", err)
	}
	boxes := regexp.MustCompile(`/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]`).FindAllSubmatch(b, -1)
	if len(boxes) == 0 {
		t.Fatalf("the PDF has no page")
	}
	for _, m := range boxes {
		w, _ := strconv.ParseFloat(string(m[1]), 64)
		h, _ := strconv.ParseFloat(string(m[2]), 64)
		if math.Abs(w-595) > 2 || math.Abs(h-842) > 2 {
			t.Fatalf("a printed page is %.0f x %.0f points, not A4 (595 x 842)", w, h)
		}
	}
	return len(boxes)
}

func writePage(t testing.TB, html []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(p, html, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
