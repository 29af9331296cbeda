package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// The timeline's drawing: plain SVG, inline, sized by a viewBox so it
// scales to the page (and to A4 when printed).
const (
	svgWidth   = 1000.0
	svgLeft    = 150.0 // lane labels
	svgRight   = 16.0
	svgAxis    = 30.0 // the time axis at the top
	laneHeight = 24.0
	rowHeight  = 18.0
)

// kindStyle is how a kind is drawn: its colour and shape, so that a mark
// says what it is without colour too.
var kindStyle = map[Kind]struct{ color, shape string }{
	KindApplied:   {"#2e7d32", "circle"},
	KindReverted:  {"#1565c0", "down"},
	KindFailed:    {"#c62828", "cross"},
	KindInDoubt:   {"#e65100", "diamond"},
	KindResolved:  {"#6a1b9a", "plus"},
	KindDrifted:   {"#ad1457", "up"},
	KindChanged:   {"#ad1457", "upo"},
	KindAccepted:  {"#00838f", "square"},
	KindAdopted:   {"#558b2f", "ring"},
	KindBaselined: {"#4e342e", "bar"},
	KindStarted:   {"#757575", "dot"},
	KindOther:     {"#9e9e9e", "dot"},
}

// shape draws one mark of kind k centred at (x, y), radius r.
func shape(k Kind, x, y, r float64) string {
	st := kindStyle[k]
	c := st.color
	switch st.shape {
	case "circle":
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`, x, y, r, c)
	case "ring":
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="#fff" stroke="%s" stroke-width="2"/>`, x, y, r-1, c)
	case "down":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x-r, y-r, x+r, y-r, x, y+r, c)
	case "up":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x-r, y+r, x+r, y+r, x, y-r, c)
	case "upo":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="#fff" stroke="%s" stroke-width="2"/>`, x-r, y+r, x+r, y+r, x, y-r, c)
	case "diamond":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x, y-r-1, x+r+1, y, x, y+r+1, x-r-1, y, c)
	case "cross":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="%s" stroke-width="3"/>`, x-r, y-r, x+r, y+r, x-r, y+r, x+r, y-r, c)
	case "plus":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="%s" stroke-width="3"/>`, x-r, y, x+r, y, x, y-r, x, y+r, c)
	case "square":
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x-r, y-r, 2*r, 2*r, c)
	case "bar":
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="4" height="%.1f" fill="%s"/>`, x-2, y-r-2, 2*r+4, c)
	default:
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`, x, y, r/2, c)
	}
}

// legendIcon is a kind's mark alone, for the legend.
func legendIcon(k Kind) template.HTML {
	return template.HTML(`<svg class="icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false">` + shape(k, 8, 8, 5) + `</svg>`)
}

// axis maps times onto the drawing's x.
type axis struct {
	from, to time.Time
	x0, x1   float64
}

func newAxis(from, to time.Time) axis {
	if !to.After(from) {
		from, to = from.Add(-time.Minute), to.Add(time.Minute)
	}
	span := to.Sub(from)
	pad := span / 50
	return axis{from: from.Add(-pad), to: to.Add(pad), x0: svgLeft, x1: svgWidth - svgRight}
}

func (a axis) x(t time.Time) float64 {
	f := float64(t.Sub(a.from)) / float64(a.to.Sub(a.from))
	return a.x0 + math.Max(0, math.Min(1, f))*(a.x1-a.x0)
}

// ticks draws the axis: about six labelled ticks at round times.
func (a axis) ticks(b *strings.Builder, height float64) {
	span := a.to.Sub(a.from)
	steps := []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute,
		time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 91 * 24 * time.Hour, 365 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 7 {
			step = s
			break
		}
	}
	layout := "2006-01-02"
	switch {
	case step < time.Second:
		layout = "15:04:05.000"
	case step < time.Minute:
		layout = "15:04:05"
	case step < 24*time.Hour:
		layout = "01-02 15:04"
	}
	fmt.Fprintf(b, `<g class="axis" aria-hidden="true"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, a.x0, svgAxis-6, a.x1, svgAxis-6)
	for t := a.from.Truncate(step).Add(step); t.Before(a.to); t = t.Add(step) {
		x := a.x(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x, svgAxis-6, x, height)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="#444">%s</text>`, x, svgAxis-10, t.UTC().Format(layout))
	}
	b.WriteString(`</g>`)
}

// timelineSVG draws the timeline: a band per release and a mark per
// transition, or (aggregated) a row per kind with a cell per period,
// shaded by how many transitions of that kind it holds.
func timelineSVG(r *Report) template.HTML {
	tl := r.Timeline
	a := newAxis(tl.From, tl.To)
	var rows []Kind
	if tl.Aggregated {
		present := map[Kind]bool{}
		for _, bk := range tl.Buckets {
			for k, n := range bk.Counts {
				if n > 0 && marked(k) {
					present[k] = true
				}
			}
		}
		for _, k := range Kinds() {
			if present[k] {
				rows = append(rows, k)
			}
		}
	}
	lanesBottom := svgAxis + float64(len(tl.Lanes))*laneHeight
	height := lanesBottom + 8
	if tl.Aggregated {
		height += 20 + float64(len(rows))*rowHeight
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="timeline-svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-labelledby="tl-title tl-desc" font-family="sans-serif">`, svgWidth, height)
	fmt.Fprintf(&b, `<title id="tl-title">Timeline of ledger %s, %s to %s</title>`, html.EscapeString(r.Ledger.Schema), tl.From.UTC().Format(time.RFC3339), tl.To.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, `<desc id="tl-desc">%s</desc>`, html.EscapeString(timelineText(r)))
	a.ticks(&b, height-4)
	for i, l := range tl.Lanes {
		y := svgAxis + float64(i)*laneHeight
		x1, x2 := a.x(l.First), a.x(l.Last)
		fmt.Fprintf(&b, `<g class="lane"><text x="%.1f" y="%.1f" text-anchor="end" font-size="12" fill="#222">%s</text>`, svgLeft-8, y+laneHeight/2+4, html.EscapeString(releaseName(l.Release)))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="3" fill="%s" fill-opacity="0.18" stroke="%s" stroke-opacity="0.5"><title>release %s: %s events, %s to %s</title></rect></g>`,
			x1-3, y+3, math.Max(x2-x1, 0)+6, laneHeight-6, laneColor(i), laneColor(i), html.EscapeString(releaseName(l.Release)), thousands(l.Events), when(l.First), when(l.Last))
	}
	if !tl.Aggregated {
		b.WriteString(`<g class="marks">`)
		for _, m := range tl.Marks {
			y := svgAxis + float64(m.Lane)*laneHeight + laneHeight/2
			fmt.Fprintf(&b, `<a href="#e-%d" class="mark" data-kind="%s"><title>seq %d, %s: %s, by %s</title>%s</a>`,
				m.Seq, m.Kind, m.Seq, when(m.At), html.EscapeString(m.Summary), html.EscapeString(m.Who), shape(m.Kind, a.x(m.At), y, 5))
		}
		b.WriteString(`</g></svg>`)
		return template.HTML(b.String())
	}
	// Aggregated: one row per kind, a cell per period.
	top := lanesBottom + 20
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#444">transitions per %s</text>`, svgLeft-8, top-6, tl.Bucket)
	maxN := 1
	for _, bk := range tl.Buckets {
		for _, n := range bk.Counts {
			maxN = max(maxN, n)
		}
	}
	for ri, k := range rows {
		y := top + float64(ri)*rowHeight
		fmt.Fprintf(&b, `<g class="kind-row" data-kind="%s"><text x="%.1f" y="%.1f" text-anchor="end" font-size="11" fill="#222">%s</text>`, k, svgLeft-8, y+rowHeight/2+4, html.EscapeString(k.Label()))
		for _, bk := range tl.Buckets {
			n := bk.Counts[k]
			if n == 0 {
				continue
			}
			x1, x2 := a.x(bk.Start), a.x(bk.End)
			op := 0.35 + 0.65*math.Log1p(float64(n))/math.Log1p(float64(maxN))
			fmt.Fprintf(&b, `<a href="#events" class="bucket" data-start="%d" data-end="%d" data-in-detail="%t"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%.2f"><title>%s: %s %s</title></rect></a>`,
				bk.Start.UnixMilli(), bk.End.UnixMilli(), bk.InDetail, x1, y+2, math.Max(x2-x1-0.5, 1.5), rowHeight-4, kindStyle[k].color, op,
				periodName(bk.Start, tl.Bucket), thousands(n), html.EscapeString(k.Label()))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var laneColors = []string{"#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#3949ab", "#c0ca33"}

func laneColor(i int) string { return laneColors[i%len(laneColors)] }

func releaseName(v string) string {
	if v == "" {
		return "(no release)"
	}
	return v
}

// timelineText is the drawing in words: its text alternative.
func timelineText(r *Report) string {
	tl := r.Timeline
	var b strings.Builder
	fmt.Fprintf(&b, "%s events from %s to %s", thousands(r.Cut.Events), when(tl.From), when(tl.To))
	if len(tl.Lanes) > 0 {
		var ls []string
		for _, l := range tl.Lanes {
			ls = append(ls, fmt.Sprintf("%s (%s events, %s to %s)", releaseName(l.Release), thousands(l.Events), when(l.First), when(l.Last)))
		}
		fmt.Fprintf(&b, "; releases: %s", strings.Join(ls, "; "))
	}
	counts := map[Kind]int{}
	for _, rel := range r.Releases {
		for k, n := range rel.Counts {
			counts[k] += n
		}
	}
	var cs []string
	for _, k := range Kinds() {
		if counts[k] > 0 && marked(k) {
			cs = append(cs, fmt.Sprintf("%s %s", thousands(counts[k]), k.Label()))
		}
	}
	if len(cs) > 0 {
		fmt.Fprintf(&b, "; transitions: %s", strings.Join(cs, ", "))
	}
	if tl.Aggregated {
		fmt.Fprintf(&b, "; drawn as counts per %s, listed in the table below the drawing", tl.Bucket)
	} else {
		b.WriteString("; each transition is listed in the events table")
	}
	return b.String() + "."
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// periodName names a bucket's period.
func periodName(t time.Time, unit string) string {
	t = t.UTC()
	switch unit {
	case "second":
		return t.Format("2006-01-02 15:04:05Z")
	case "minute":
		return t.Format("2006-01-02 15:04Z")
	case "hour":
		return t.Format("2006-01-02 15:00Z")
	case "day":
		return t.Format("2006-01-02")
	case "week":
		return "week of " + t.Format("2006-01-02")
	}
	return t.Format("2006-01")
}
