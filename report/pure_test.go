package report

import (
	"strings"
	"testing"
	"time"
)

// A URL in the ledger's text stays text: every http: and https: (any
// case) has its colon written as a character reference, and nothing else
// changes.
func TestDefuseURLs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"see https://x.example/a", "see https&#58;//x.example/a"},
		{"HTTP://A and Https://b", "HTTP&#58;//A and Https&#58;//b"},
		{"http", "http"},
		{"https", "https"},
		{"httpx: no", "httpx: no"},
		{"a http:", "a http&#58;"},
		{"nothing here", "nothing here"},
		{"", ""},
	} {
		if got := string(defuseURLs([]byte(c.in))); got != c.want {
			t.Errorf("defuseURLs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The aggregated timeline's period is the shortest that splits the span
// into at most max buckets.
func TestPickUnit(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 10, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		span time.Duration
		want string
	}{
		{90 * time.Second, "second"},
		{2 * time.Hour, "minute"},
		{5 * 24 * time.Hour, "hour"},
		{90 * 24 * time.Hour, "day"},
		{3 * 365 * 24 * time.Hour, "week"},
		{20 * 365 * 24 * time.Hour, "month"},
	} {
		if got := pickUnit(t0, t0.Add(c.span), 180).name; got != c.want {
			t.Errorf("a span of %s: by %s, want %s", c.span, got, c.want)
		}
	}
	// A week starts on Monday.
	if w := units[4].floor(time.Date(2026, 11, 8, 23, 0, 0, 0, time.UTC)); w.Weekday() != time.Monday || w.Day() != 2 {
		t.Errorf("the week of Sunday 2026-11-08 starts %s", w)
	}
}

// A ring keeps the newest items, oldest first, and counts them all.
func TestRing(t *testing.T) {
	r := ring[int]{max: 3}
	for i := 1; i <= 7; i++ {
		r.add(i)
	}
	l := r.list()
	if l.Total != 7 || len(l.Items) != 3 || l.Items[0] != 5 || l.Items[2] != 7 || l.Omitted() != 4 {
		t.Fatalf("ring of 3 after 7: %+v", l)
	}
	var few ring[int]
	few.setMax(5)
	few.add(1)
	if l := few.list(); l.Total != 1 || len(l.Items) != 1 {
		t.Fatalf("ring of 5 after 1: %+v", l)
	}
}

func TestWords(t *testing.T) {
	if got := thousands(int64(1234567)); got != "1,234,567" {
		t.Errorf("thousands: %s", got)
	}
	if got := thousands(-1000); got != "-1,000" {
		t.Errorf("thousands: %s", got)
	}
	if got := oneLine("a\n  b\tc", 100); got != "a b c" {
		t.Errorf("oneLine: %q", got)
	}
	if got := oneLine(strings.Repeat("é", 10), 5); !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("oneLine cut a character: %q", got)
	}
}

// A long recorded text is cut on the page, saying how much more there is.
func TestClip(t *testing.T) {
	if got := clip("short", 10); got != "short" {
		t.Errorf("clip: %q", got)
	}
	long := strings.Repeat("é", 3000) // 6000 bytes
	got := clip(long, maxText)
	if !strings.Contains(got, "more bytes") || len(got) > maxText+80 || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("clip of 6000 bytes: %d bytes, %q…", len(got), got[len(got)-60:])
	}
	b := &builder{o: Options{MaxRows: 2}}
	if ls := b.lines([]string{"a", "b", "c", "d"}); len(ls) != 3 || ls[2] != "… and 2 more object(s) (ledger history shows all)" {
		t.Errorf("lines: %q", ls)
	}
}
