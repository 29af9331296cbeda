package projector

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Diff lists the differences between two states, one line each, in a stable
// order; nil when they are equal. Times compare as instants.
func Diff(want, got State) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if want.Seq != got.Seq {
		add("seq: want %d, got %d", want.Seq, got.Seq)
	}
	if want.Format != got.Format {
		add("format: want %d, got %d", want.Format, got.Format)
	}
	if want.SchemaVersion != got.SchemaVersion {
		add("schema version: want %q, got %q", want.SchemaVersion, got.SchemaVersion)
	}
	if want.Digest != got.Digest {
		add("applied-set digest: want %s, got %s", want.Digest, got.Digest)
	}
	if !reflect.DeepEqual(want.Fingerprint, got.Fingerprint) {
		add("fingerprint: want %s, got %s", fingerprintText(want.Fingerprint), fingerprintText(got.Fingerprint))
	}
	diffMap(add, "applied", want.Applied, got.Applied, func(a, b Migration) bool {
		ta, tb := a.AppliedAt, b.AppliedAt
		a.AppliedAt, b.AppliedAt = ta.UTC(), tb.UTC()
		if !slices.Equal(a.Accepted, b.Accepted) {
			return false
		}
		a.Accepted, b.Accepted = nil, nil
		return reflect.DeepEqual(a, b)
	})
	diffMap(add, "in doubt", want.InDoubt, got.InDoubt, func(a, b InDoubt) bool {
		a.StartedAt, b.StartedAt = a.StartedAt.UTC(), b.StartedAt.UTC()
		if !slices.Equal(a.LeftBehind, b.LeftBehind) {
			return false
		}
		a.LeftBehind, b.LeftBehind = nil, nil
		return reflect.DeepEqual(a, b)
	})
	diffMap(add, "failed", want.Failed, got.Failed, func(a, b Failure) bool {
		a.FailedAt, b.FailedAt = a.FailedAt.UTC(), b.FailedAt.UTC()
		return a == b
	})
	return out
}

func diffMap[T any](add func(string, ...any), what string, want, got map[string]T, equal func(a, b T) bool) {
	ids := make([]string, 0, len(want)+len(got))
	for id := range want {
		ids = append(ids, id)
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		w, inWant := want[id]
		g, inGot := got[id]
		switch {
		case !inGot:
			add("%s %s: missing", what, id)
		case !inWant:
			add("%s %s: unexpected", what, id)
		case !equal(w, g):
			add("%s %s: %s", what, id, strings.Join(fieldDiffs(w, g), "; "))
		}
	}
}

// fingerprintText says a recorded fingerprint in words.
func fingerprintText(f *Fingerprint) string {
	if f == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%d objects, seq %d)", f.Value, f.Objects, f.Seq)
}

// fieldDiffs names each field of two values of one struct type that
// differs, by its JSON name: "checksum: want 9f86d0…, got 2c26b4…" —
// never the whole struct.
func fieldDiffs(want, got any) []string {
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	var out []string
	for i := range w.NumField() {
		f := w.Type().Field(i)
		wv, gv := w.Field(i).Interface(), g.Field(i).Interface()
		if wt, ok := wv.(time.Time); ok {
			if gt := gv.(time.Time); wt.Equal(gt) {
				continue
			}
		} else if reflect.DeepEqual(wv, gv) || isEmpty(w.Field(i)) && isEmpty(g.Field(i)) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, fmt.Sprintf("%s: want %s, got %s", name, valueText(wv), valueText(gv)))
	}
	if len(out) == 0 {
		out = append(out, "differs")
	}
	return out
}

func isEmpty(v reflect.Value) bool {
	return (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0
}

func valueText(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case string:
		return strconv.Quote(v)
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	}
	return fmt.Sprint(v)
}
