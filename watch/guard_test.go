package watch_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
	"github.com/schema-ledger/ledger/watch"
)

// stream builds events as the store would number and stamp them.
type stream struct {
	t   *testing.T
	seq int64
	at  time.Time
}

func (s *stream) ev(typ string, payload any, release string) projector.Event {
	s.t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		s.t.Fatal(err)
	}
	s.seq++
	s.at = s.at.Add(time.Minute)
	e.Seq, e.ID, e.RecordedAt, e.Actor, e.Host, e.AppVersion = s.seq, "id", s.at, "deploy", "pod-"+release, release
	return e
}

func kinds(as []watch.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, string(a.Kind))
	}
	return out
}

func TestGuardAlertsOncePerChange(t *testing.T) {
	s := &stream{t: t, at: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	known := policy.Manifest{AppVersion: "1.2.0", Migrations: []policy.Known{{ID: "0001_users", Checksum: "c1"}}}
	g := watch.NewGuard(known, policy.Strict)
	steps := []struct {
		ev   projector.Event
		want []string
		text string // in the first alert's message
	}{
		{s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_users", Checksum: "c1", Transactional: true}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f1", Objects: 3}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_orders", Checksum: "c2", Transactional: true}, "1.3.0"),
			[]string{"unknown-migration"}, "0002_orders (release 1.3.0, deploy@pod-1.3.0)"},
		// The same condition, another event: no second alert.
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f2", Objects: 4}, "1.3.0"), nil, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0003_more", Checksum: "c3", Transactional: true}, "1.3.0"),
			[]string{"unknown-migration"}, "1 migration(s) this release does not know: 0003_more"},
		{s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0003_more", Source: "file"}, "1.3.0"), nil, ""},
		{s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0002_orders", Source: "file"}, "1.3.0"), []string{"recovered"}, "no longer refuses: run"},
		{s.ev(projector.TypeMigrationFailed, projector.Failed{ID: "0002_orders", Checksum: "c2", Error: "relation \"x\" does not exist", SQLState: "42P01", Attempt: 1}, "1.3.0"),
			[]string{"migration-failed"}, "SQLSTATE 42P01"},
		{s.ev(projector.TypeMigrationStarted, projector.Started{ID: "0004_idx", Checksum: "c4"}, "1.3.0"), []string{"in-doubt"}, "0004_idx"},
		{s.ev(projector.TypeSchemaDrifted, projector.Drifted{Fingerprint: "f3", Objects: 5, Recorded: "f2", RecordedSeq: 5, Changes: []string{"+ column public.users.x integer null"}}, "1.3.0"),
			[]string{"schema-drift"}, "+ column public.users.x integer null"},
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f3", Objects: 5}, "1.3.0"), nil, ""},
		{s.ev(projector.TypeSchemaChanged, projector.Changed{CommandTag: "ALTER TABLE", Objects: []projector.ChangedObject{{ObjectType: "table", Identity: "public.users"}}, User: "alice", ApplicationName: "psql"}, ""),
			[]string{"schema-drift"}, "ALTER TABLE run outside the migrations by alice (psql)"},
		{s.ev(projector.TypeMigrationResolved, projector.Resolved{ID: "0004_idx", Decision: "failed", Reason: "dropped it"}, "1.3.0"), []string{"recovered"}, ""},
	}
	for i, st := range steps {
		got, err := g.Apply(st.ev)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.ev.Type, err)
		}
		if !slices.Equal(kinds(got), st.want) {
			t.Fatalf("step %d (%s): alerts %v, want %v", i, st.ev.Type, kinds(got), st.want)
		}
		if st.text != "" && !strings.Contains(got[0].Message, st.text) {
			t.Errorf("step %d: message %q does not say %q", i, got[0].Message, st.text)
		}
		for _, a := range got {
			if a.Release != "1.2.0" || a.Seq == 0 || a.At.IsZero() {
				t.Errorf("step %d: alert without its facts: %+v", i, a)
			}
		}
	}
	// A watcher that replays the same events alerts what still holds, once.
	g2 := watch.NewGuard(known, policy.Strict)
	for _, st := range steps[:5] {
		if err := g2.Fold(st.ev); err != nil {
			t.Fatal(err)
		}
	}
	replayed := g2.Judge()
	if !slices.Equal(kinds(replayed), []string{"unknown-migration"}) {
		t.Fatalf("after replay: %v", kinds(replayed))
	}
	// ... and with the MsgID a live watcher used: JetStream publishes it once.
	g3 := watch.NewGuard(known, policy.Strict)
	var first []watch.Alert
	for _, st := range steps[:4] {
		as, _ := g3.Apply(st.ev)
		first = append(first, as...)
	}
	if len(first) != 1 || first[0].MsgID() != replayed[0].MsgID() {
		t.Fatalf("live alert %v and replayed alert %v differ in MsgID", first, replayed)
	}
}

// Under the compatible policy an unknown migration that allows this release
// raises nothing; the verdict is the policy's.
func TestGuardFollowsThePolicy(t *testing.T) {
	s := &stream{t: t, at: time.Now()}
	known := policy.Manifest{AppVersion: "1.2.0"}
	g := watch.NewGuard(known, policy.Compatible)
	for _, e := range []projector.Event{
		s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.3.0"),
		s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_add_col", Checksum: "c", Compatible: ">=1.2.0", Transactional: true}, "1.3.0"),
	} {
		if as, err := g.Apply(e); err != nil || len(as) != 0 {
			t.Fatalf("%s: %v %v", e.Type, kinds(as), err)
		}
	}
	if d := g.Verdict().Decision; d != policy.Run {
		t.Fatalf("verdict %v, want run", d)
	}
	as, _ := g.Apply(s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_drop_col", Checksum: "c", Compatible: ">=1.3.0", Transactional: true}, "1.3.0"))
	if !slices.Equal(kinds(as), []string{"unknown-migration"}) || as[0].Migrations[0].Compatible != ">=1.3.0" {
		t.Fatalf("incompatible migration: %+v", as)
	}
}

// Polled drift: once per fingerprint found, never when migrations ran after
// the snapshot (stale), never for a drift the stream already recorded.
func TestGuardSchemaFound(t *testing.T) {
	s := &stream{t: t, at: time.Now()}
	g := watch.NewGuard(policy.Manifest{AppVersion: "1.0.0"}, policy.Strict)
	for _, e := range []projector.Event{
		s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.0.0"),
		s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f1", Objects: 1}, "1.0.0"),
	} {
		if _, err := g.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if as := g.SchemaFound("f1", nil, time.Now()); len(as) != 0 {
		t.Fatalf("same fingerprint: %v", as)
	}
	as := g.SchemaFound("f2", []string{"+ table public.t"}, time.Now())
	if len(as) != 1 || as[0].Kind != watch.KindDrift || !strings.Contains(as[0].Message, "+ table public.t") {
		t.Fatalf("drift: %+v", as)
	}
	if as := g.SchemaFound("f2", []string{"+ table public.t"}, time.Now()); len(as) != 0 {
		t.Fatalf("the same drift twice: %v", as)
	}
	if as := g.SchemaFound("f3", []string{"+ table public.u"}, time.Now()); len(as) != 1 {
		t.Fatalf("a further change: %v", as)
	}
	if _, err := g.Apply(s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_x", Checksum: "c", Transactional: true}, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if as := g.SchemaFound("f9", nil, time.Now()); len(as) != 0 {
		t.Fatalf("stale snapshot alerted as drift: %v", as)
	}
}

// BenchmarkGuardFold100k is the CPU side of a catch-up: folding 100,000
// events (a migration applied and reverted in turn) and judging once, with
// no NATS in the way (BenchmarkCatchUp100k measures the whole).
func BenchmarkGuardFold100k(b *testing.B) {
	s := &stream{at: time.Now()}
	s.t = &testing.T{}
	events := make([]projector.Event, 0, 100_000)
	events = append(events, s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.0.0"))
	for len(events) < 100_000 {
		if len(events)%2 == 1 {
			events = append(events, s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_churn", Checksum: "c", Transactional: true}, "1.0.0"))
		} else {
			events = append(events, s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0001_churn", Source: "file"}, "1.0.0"))
		}
	}
	known := policy.Manifest{AppVersion: "1.0.0", Migrations: []policy.Known{{ID: "0001_churn", Checksum: "c"}}}
	for b.Loop() {
		g := watch.NewGuard(known, policy.Strict)
		for _, e := range events {
			if err := g.Fold(e); err != nil {
				b.Fatal(err)
			}
		}
		if as := g.Judge(); len(as) != 0 || g.Verdict().Decision != policy.Run {
			b.Fatalf("%v %v", as, g.Verdict().Decision)
		}
	}
}
