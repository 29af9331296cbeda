package projector_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

var update = flag.Bool("update", false, "rewrite the golden state files")

// Each testdata/*.events.json folds to the state in the .state.json beside it.
func TestGoldenFolds(t *testing.T) {
	files, err := filepath.Glob("testdata/*.events.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden event files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".events.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var events []projector.Event
			if err := json.Unmarshal(raw, &events); err != nil {
				t.Fatal(err)
			}
			s, err := projector.Fold(events)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".state.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./projector -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("fold of %s differs from %s:\n%s", f, golden, got)
			}
		})
	}
}

func ev(t *testing.T, seq int64, typ string, payload any) projector.Event {
	t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	e.Seq, e.RecordedAt, e.AppVersion = seq, time.Date(2026, 11, 25, 0, 0, int(seq), 0, time.UTC), "1.0.0"
	return e
}

func TestApplyFailsClosed(t *testing.T) {
	base, err := projector.Fold([]projector.Event{
		ev(t, 1, projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}),
		ev(t, 2, projector.TypeMigrationApplied, projector.Applied{ID: "1_a", Checksum: "x"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	newer := ev(t, 3, projector.TypeMigrationApplied, projector.Applied{ID: "2_b", Checksum: "x"})
	newer.PayloadVersion = 2
	cases := []struct {
		name  string
		event projector.Event
		want  string
	}{
		{"unknown type", projector.Event{Seq: 3, Type: "schema.rewritten", PayloadVersion: 1, Payload: []byte(`{}`)}, "unknown event type"},
		{"newer payload", newer, "newer than 1"},
		{"payload version 0", projector.Event{Seq: 3, Type: projector.TypeMigrationApplied, PayloadVersion: 0, Payload: []byte(`{}`)}, "invalid payload version 0"},
		{"gap", ev(t, 9, projector.TypeMigrationApplied, projector.Applied{ID: "2_b", Checksum: "x"}), "gapless"},
		{"applied twice", ev(t, 3, projector.TypeMigrationApplied, projector.Applied{ID: "1_a", Checksum: "x"}), "already applied"},
		{"revert unknown", ev(t, 3, projector.TypeMigrationReverted, projector.Reverted{ID: "2_b", Source: "file"}), "not applied"},
		{"revert bad source", ev(t, 3, projector.TypeMigrationReverted, projector.Reverted{ID: "1_a", Source: "guess"}), "revert source"},
		{"fail applied", ev(t, 3, projector.TypeMigrationFailed, projector.Failed{ID: "1_a", Error: "x"}), "cannot fail"},
		{"resolve not in doubt", ev(t, 3, projector.TypeMigrationResolved, projector.Resolved{ID: "2_b", Decision: "applied", Reason: "r"}), "not in doubt"},
		{"bad id", ev(t, 3, projector.TypeMigrationApplied, projector.Applied{ID: "add_users", Checksum: "x"}), "is not a decimal number"},
		{"no checksum", ev(t, 3, projector.TypeMigrationApplied, projector.Applied{ID: "2_b"}), "no checksum"},
		{"unknown field", projector.Event{Seq: 3, Type: projector.TypeMigrationApplied, PayloadVersion: 1, Payload: []byte(`{"id":"2_b","checksum":"x","new_meaning":true}`)}, "unknown field"},
		{"second init", ev(t, 3, projector.TypeLedgerInitialized, projector.Initialized{Format: 1}), "already initialized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base.Clone()
			_, err := projector.Apply(s, c.event)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if d := projector.Diff(base, s); d != nil {
				t.Fatalf("a rejected event changed the state: %v", d)
			}
		})
	}
	var ut *projector.UnknownTypeError
	if _, err := projector.Apply(base.Clone(), cases[0].event); !errors.As(err, &ut) {
		t.Errorf("unknown type error is %T", err)
	}
}

func TestCompareIDs(t *testing.T) {
	ordered := []string{"1_a", "0002_b", "2_c", "9_z", "0010_1.9.0_schema", "10_a", "20261124120000_x", "100000000000000000000000_big", "not_an_id"}
	for i := range ordered {
		for j := range ordered {
			got := projector.CompareIDs(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("CompareIDs(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestDigestIsASetFunction(t *testing.T) {
	a := projector.DigestOf(map[string]string{"1_a": "x", "2_b": "y", "3_c": "z"})
	var d projector.Digest
	d = d.Add("3_c", "z").Add("1_a", "x").Add("9_q", "q").Add("2_b", "y").Sub("9_q", "q")
	if d != a {
		t.Fatalf("digest depends on order or on a removed member: %s vs %s", d, a)
	}
	if b := projector.DigestOf(map[string]string{"1_a": "x", "2_b": "y", "3_c": "CHANGED"}); b == a {
		t.Fatal("a changed checksum did not change the digest")
	}
	if !d.Sub("1_a", "x").Sub("2_b", "y").Sub("3_c", "z").IsZero() {
		t.Fatal("removing every member does not give the empty digest")
	}
	var back projector.Digest
	text, _ := a.MarshalText()
	if err := back.UnmarshalText(text); err != nil || back != a {
		t.Fatalf("digest text round trip: %v", err)
	}
}

func TestSchemaVersionFollowsRevert(t *testing.T) {
	s := projector.NewState()
	var err error
	for i, id := range []string{"1_a", "3_c", "2_b"} {
		if s, err = projector.Apply(s, ev(t, int64(i+1), projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "x"})); err != nil {
			t.Fatal(err)
		}
	}
	if s.SchemaVersion != "3_c" {
		t.Fatalf("schema version %q, want 3_c", s.SchemaVersion)
	}
	if s, err = projector.Apply(s, ev(t, 4, projector.TypeMigrationReverted, projector.Reverted{ID: "3_c", Source: "file"})); err != nil {
		t.Fatal(err)
	}
	if s.SchemaVersion != "2_b" {
		t.Fatalf("schema version after reverting 3_c: %q, want 2_b", s.SchemaVersion)
	}
}

// schema.drifted leaves the recorded fingerprint alone; an acceptance
// without a reason or a drift without a fingerprint is refused.
func TestDriftEventsAreValidated(t *testing.T) {
	ev := func(seq int64, typ, payload string) projector.Event {
		return projector.Event{Seq: seq, Type: typ, PayloadVersion: 1, Payload: json.RawMessage(payload)}
	}
	s, err := projector.Fold([]projector.Event{
		ev(1, projector.TypeSchemaFingerprinted, `{"fingerprint": "f1", "objects": 1}`),
		ev(2, projector.TypeSchemaDrifted, `{"fingerprint": "f2", "objects": 2, "recorded": "f1", "recorded_seq": 1}`),
	})
	if err != nil || s.Fingerprint == nil || s.Fingerprint.Value != "f1" || s.Fingerprint.Seq != 1 {
		t.Fatalf("after schema.drifted: %+v %v", s.Fingerprint, err)
	}
	for _, bad := range []projector.Event{
		ev(3, projector.TypeSchemaDrifted, `{"objects": 2}`),
		ev(3, projector.TypeSchemaDriftAccepted, `{"fingerprint": "f2", "objects": 2}`),
		ev(3, projector.TypeSchemaDriftAccepted, `{"fingerprint": "f2", "reason": "x", "surprise": 1}`),
	} {
		if _, err := projector.Apply(s.Clone(), bad); !errors.Is(err, projector.ErrInvalidEvent) {
			t.Errorf("%s %s: %v, want ErrInvalidEvent", bad.Type, bad.Payload, err)
		}
	}
}

// SortedInDoubt lists in id order: by number numerically, then name.
func TestSortedInDoubt(t *testing.T) {
	m := map[string]projector.InDoubt{
		"10_c": {ID: "10_c"}, "9_b": {ID: "9_b"}, "0009_a": {ID: "0009_a"}, "100_d": {ID: "100_d"},
	}
	var got []string
	for _, d := range projector.SortedInDoubt(m) {
		got = append(got, d.ID)
	}
	if want := []string{"0009_a", "9_b", "10_c", "100_d"}; !slices.Equal(got, want) {
		t.Errorf("SortedInDoubt: %v, want %v", got, want)
	}
}

// Diff names the fields that differ, never a whole struct.
func TestDiffNamesFields(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	want, got := projector.NewState(), projector.NewState()
	want.Applied["1_a"] = projector.Migration{ID: "1_a", Checksum: "aa", AppliedAt: at, Host: "h"}
	got.Applied["1_a"] = projector.Migration{ID: "1_a", Checksum: "bb", AppliedAt: at.In(time.FixedZone("x", 3600)), Host: "h"}
	want.Fingerprint = &projector.Fingerprint{Value: "f1", Objects: 2, Seq: 3}
	diffs := projector.Diff(want, got)
	joined := strings.Join(diffs, "\n")
	for _, w := range []string{`applied 1_a: checksum: want "aa", got "bb"`, "fingerprint: want f1 (2 objects, seq 3), got none"} {
		if !strings.Contains(joined, w) {
			t.Errorf("diff lacks %q:\n%s", w, joined)
		}
	}
	if strings.Contains(joined, "{") || strings.Contains(joined, "&") || strings.Contains(joined, "applied_at") {
		t.Errorf("diff prints a struct, or a field that is equal:\n%s", joined)
	}
}
