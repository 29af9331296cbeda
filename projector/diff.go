package projector

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
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
		add("fingerprint: want %+v, got %+v", want.Fingerprint, got.Fingerprint)
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
		return a == b
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
			add("%s %s: want %+v, got %+v", what, id, w, g)
		}
	}
}
