package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// ledger report writes the page (or its JSON), cut by time and release;
// it exits 5 once the schema drifted, with the drift on the page; a fleet
// page has a row per target, marking the failed migration and the drift
// recorded and not accepted, and one row unreachable (exit 1).
func TestReportCommand(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewPool(t, 1)
	r12, r13 := writeDir(t, story12), writeDir(t, story13)
	mustCLI(t, url, "up", "--dir", r12, "--app-version", "1.2.0")
	mustCLI(t, url, "up", "--dir", r13, "--app-version", "1.3.0", "--to", "0004_orders_total")
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := ledgerCLI(t, url, "report", "-o", out)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "wrote "+out) || !strings.Contains(stderr, "verification passed") {
		t.Fatalf("report -o: exit %d\n%s%s", code, stdout, stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Verification: passed", "0004_orders_total", "Release 1.3.0", "Release 1.2.0", "ledger verify --db &#39;postgres://", "--expect-head "} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page does not hold %q", want)
		}
	}
	if regexp.MustCompile(`(?i)https?:`).Match(page) {
		t.Error("the page holds an http(s): reference")
	}

	// The page's checkpoint, kept: a later page proves the ledger still
	// holds that history; a checkpoint it does not hold fails.
	cp := regexp.MustCompile(`<code id="checkpoint">([0-9]+:[0-9a-f]{64})</code>`).FindSubmatch(page)
	if cp == nil {
		t.Fatal("the page has no checkpoint")
	}
	if code, out, errOut := ledgerCLI(t, url, "report", "--expect-head", string(cp[1])); code != exitOK || !strings.Contains(out, "checkpoints kept outside the database") {
		t.Fatalf("report --expect-head its own checkpoint: exit %d\n%s", code, errOut)
	}
	last := cp[1][len(cp[1])-1]
	forged := string(cp[1][:len(cp[1])-1]) + map[bool]string{true: "1", false: "0"}[last == '0']
	if code, out, _ := ledgerCLI(t, url, "report", "--expect-head", forged); code != exitIntegrity || !strings.Contains(out, "This ledger FAILS verification") {
		t.Fatalf("report --expect-head a checkpoint the ledger does not hold: exit %d", code)
	}

	// A column added by hand: the report says so, and exits 5.
	pgtest.Exec(t, url, "ALTER TABLE accounts ADD COLUMN sneaky_hotfix integer")
	code, stdout, stderr = ledgerCLI(t, url, "report")
	if code != exitIntegrity || !regexp.MustCompile(`<li class="drift-line">[^<]*sneaky_hotfix`).MatchString(stdout) || !strings.Contains(stdout, "This ledger FAILS verification") {
		t.Fatalf("report after drift: exit %d\n%.2000s%s", code, stdout, stderr)
	}

	// The next up records the drift, then fails (SQLSTATE 42P01).
	if code, _, _ := ledgerCLI(t, url, "up", "--dir", r13, "--app-version", "1.3.0"); code != exitError {
		t.Fatalf("up of the failing 0005: exit %d", code)
	}

	// --json, to standard output, cut to one release.
	_, js, _ := ledgerCLI(t, url, "report", "--json", "--release", "1.3.0", "--since", "1h")
	var m struct {
		Verification struct {
			OK         bool   `json:"ok"`
			Checkpoint string `json:"checkpoint"`
		} `json:"verification"`
		Cut struct {
			Release string `json:"release"`
			Events  int    `json:"events"`
		} `json:"cut"`
		Releases []struct{ Version string } `json:"releases"`
		Failures struct {
			Items []struct{ SQLState string } `json:"items"`
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("report --json: %v\n%s", err, js)
	}
	if m.Verification.Checkpoint == "" || m.Cut.Release != "1.3.0" || len(m.Releases) != 1 || m.Releases[0].Version != "1.3.0" ||
		len(m.Failures.Items) != 1 || m.Failures.Items[0].SQLState != "42P01" {
		t.Fatalf("report --json --release 1.3.0: %+v", m)
	}

	// The fleet: this database twice, and one that is not there.
	targets := filepath.Join(t.TempDir(), "targets")
	text := fmt.Sprintf("# the fleet\n%s name=one\n%s   name=two # the same database\npostgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2 name=gone\n", url, url)
	if err := os.WriteFile(targets, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = ledgerCLI(t, url, "report", "--targets", targets)
	if code != exitError || !strings.Contains(stderr, "gone could not be read") {
		t.Fatalf("report --targets: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{`<th scope="row">one<`, `<th scope="row">two<`, `<th scope="row">gone<`, "✗ failed", "drifted"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the fleet page does not hold %q", want)
		}
	}

	// Usage errors.
	for _, args := range [][]string{
		{"report", "--since", "yesterday"},
		{"report", "--since", "2026-11-02", "--until", "2026-11-01"},
		{"report", "--targets", targets, "--targets-sql", "SELECT 1"},
		{"report", "--policy", "strict"},
		{"report", "--expect-head", "12"},
		{"report", "--expect-head", "1:" + strings.Repeat("0", 64), "--targets", targets},
	} {
		if code, _, _ := ledgerCLI(t, url, args...); code != exitUsage {
			t.Errorf("ledger %v: exit %d, want %d", args, code, exitUsage)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad-targets")
	if err := os.WriteFile(bad, []byte("mysql://x/y\n"+url+" colour=blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := ledgerCLI(t, url, "report", "--targets", bad); code != exitUsage || !strings.Contains(stderr, "line 1") || !strings.Contains(stderr, "line 2") {
		t.Errorf("a bad targets file: exit %d\n%s", code, stderr)
	}
}

// A fleet page lists the rollouts of the control ledger with each
// target's outcome: one that applied everywhere, one that failed on every
// target (SQLSTATE 42P01).
func TestReportRollouts(t *testing.T) {
	t.Parallel()
	eu, us := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	targets := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(targets, []byte(eu+" name=eu\n"+us+" name=us\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r12, r13 := writeDir(t, story12), writeDir(t, story13)
	mustCLI(t, eu, "rollout", "--targets", targets, "--dir", r12, "--app-version", "1.2.0")
	if code, out, errOut := ledgerCLI(t, eu, "rollout", "--targets", targets, "--dir", r13, "--app-version", "1.3.0", "--max-failures", "5"); code != exitError {
		t.Fatalf("the failing rollout: exit %d\n%s%s", code, out, errOut)
	}
	code, page, errOut := ledgerCLI(t, eu, "report", "--targets", targets)
	if code != exitOK {
		t.Fatalf("report --targets: exit %d\n%s", code, errOut)
	}
	rollouts := regexp.MustCompile(`(?s)<section id="rollouts".*?</section>\n</section>`).FindString(page)
	if rollouts == "" {
		t.Fatalf("the fleet page has no rollouts:\n%.3000s", page)
	}
	if n := strings.Count(rollouts, `<section class="rollout"`); n != 2 {
		t.Errorf("%d rollouts on the page, want 2", n)
	}
	for _, want := range []string{"release 1.2.0", "release 1.3.0", `<th scope="row">eu</th>`, `<th scope="row">us</th>`,
		"0001_accounts, 0002_orders", `<td class="outcome">✗ failed</td>`, `<code class="sqlstate">42P01</code>`, "0003_accounts_email, 0004_orders_total"} {
		if !strings.Contains(rollouts, want) {
			t.Errorf("the rollouts do not hold %q", want)
		}
	}
	if strings.Count(rollouts, `<td class="outcome">applied</td>`) != 2 {
		t.Errorf("the first rollout's targets are not both applied")
	}
}
