package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	"time"
)

//go:embed page.html.tmpl
var pageTemplate string

var funcs = template.FuncMap{
	"when":    when,
	"n":       func(n any) string { return thousandsAny(n) },
	"icon":    legendIcon,
	"kinds":   Kinds,
	"marked":  marked,
	"release": releaseName,
	"short":   short,
	"ms": func(p *int64) string {
		if p == nil {
			return ""
		}
		return duration(*p)
	},
	"period": periodName,
	"rfc":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"unixms": func(t time.Time) int64 { return t.UnixMilli() },
	"join":   strings.Join,
	"timeline": func(r *Report) template.HTML {
		return timelineSVG(r)
	},
	"timelineText": timelineText,
	"count":        func(m map[Kind]int, k Kind) int { return m[k] },
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"cutArgs":    cutArgs,
	"countsText": countsText,
	"firstLine":  firstLine,
	"oneLine":    oneLine,
}

// countsText is a release's transitions in words: "3 applied, 1 failed".
func countsText(m map[Kind]int) string {
	var parts []string
	for _, k := range Kinds() {
		if m[k] > 0 {
			parts = append(parts, thousands(m[k])+" "+k.Label())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func thousandsAny(n any) string {
	switch v := n.(type) {
	case int:
		return thousands(v)
	case int64:
		return thousands(v)
	}
	return fmt.Sprint(n)
}

// cutArgs is a period as the --since and --until of a report of it.
func cutArgs(from, to time.Time) string {
	return "--since " + from.UTC().Format(time.RFC3339) + " --until " + to.UTC().Format(time.RFC3339)
}

// page is parsed when the first page is rendered, not at init: parsing
// takes ~1 ms, and every start of the ledger binary (a server's startup
// check) would pay it otherwise.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(funcs).Parse(pageTemplate))
})

// RenderHTML writes r as one self-contained HTML page: every style,
// script and drawing inline, no reference to anything on a network (a
// URL in the ledger's own text is written so that it stays text), readable
// without JavaScript and printable on A4.
func RenderHTML(w io.Writer, r *Report) error {
	return render(w, "page", r)
}

func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if err := page().ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render the report: %w", err)
	}
	_, err := w.Write(defuseURLs(buf.Bytes()))
	return err
}

// defuseURLs writes the colon of every "http:" and "https:" (any case) as
// a character reference: text and attributes read the same, but the page
// holds no URL a browser or a mail filter could follow — a reason or an
// error message recorded in the ledger may quote one. The page's own
// markup, style and script hold none.
func defuseURLs(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i+5 <= len(b); i++ {
		if b[i]|0x20 != 'h' || b[i+1]|0x20 != 't' || b[i+2]|0x20 != 't' || b[i+3]|0x20 != 'p' {
			continue
		}
		j := i + 4
		if b[j]|0x20 == 's' {
			j++
		}
		if j < len(b) && b[j] == ':' {
			out = append(out, b[last:j]...)
			out = append(out, "&#58;"...)
			last = j + 1
			i = j
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
