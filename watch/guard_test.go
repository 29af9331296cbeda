package watch_test

import (
	"fmt"
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

// status is an alert as "kind" or "kind recovered".
func status(a watch.Alert) string {
	if a.Status == watch.Recovered {
		return string(a.Kind) + " recovered"
	}
	return string(a.Kind)
}

func kindsOf(as []watch.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, status(a))
	}
	return out
}

// fixedClock is a clock a test moves by hand.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

// Each kind is a state: alerted when it appears or changes (stating it
// whole), recovered when it ends, silent while it holds.
func TestGuardAlertsStatesNotEvents(t *testing.T) {
	s := &stream{t: t, at: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	clock := &fixedClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	known := policy.Manifest{AppVersion: "1.2.0", Migrations: []policy.Known{{ID: "0001_users", Checksum: "c1"}}}
	g := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now))
	steps := []struct {
		ev   projector.Event
		want []string
		text string // in the first alert's message
	}{
		{s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_users", Checksum: "c1", Transactional: true}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f1", Objects: 3}, "1.2.0"), nil, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_orders", Checksum: "c2", Transactional: true}, "1.3.0"),
			[]string{"unknown-migration"}, "1 migration(s) this release does not know: 0002_orders (release 1.3.0, deploy@pod-1.3.0)"},
		// The same state, another event: nothing.
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f2", Objects: 4}, "1.3.0"), nil, ""},
		// The state changes: the alert states it whole, not the delta.
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0003_more", Checksum: "c3", Transactional: true}, "1.3.0"),
			[]string{"unknown-migration"}, "2 migration(s) this release does not know: 0002_orders"},
		{s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0003_more", Source: "file"}, "1.3.0"), []string{"unknown-migration"}, "1 migration(s)"},
		{s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0002_orders", Source: "file"}, "1.3.0"), []string{"unknown-migration recovered"}, "no longer holds"},
		{s.ev(projector.TypeMigrationFailed, projector.Failed{ID: "0002_orders", Checksum: "c2", Error: "relation \"x\" does not exist", SQLState: "42P01", Attempt: 1}, "1.3.0"),
			[]string{"migration-failed"}, "SQLSTATE 42P01"},
		// Started and a later event: in doubt at once (the run moved on).
		{s.ev(projector.TypeMigrationStarted, projector.Started{ID: "0004_idx", Checksum: "c4"}, "1.3.0"), []string{"in-doubt"}, "0004_idx"},
		{s.ev(projector.TypeSchemaDrifted, projector.Drifted{Fingerprint: "f3", Objects: 5, Recorded: "f2", RecordedSeq: 5, Changes: []string{"+ column public.users.x integer null"}}, "1.3.0"),
			[]string{"schema-drift"}, "+ column public.users.x integer null"},
		// A snapshot does not accept the drift: it still holds.
		{s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f3", Objects: 5}, "1.3.0"), nil, ""},
		{s.ev(projector.TypeSchemaChanged, projector.Changed{CommandTag: "ALTER TABLE", Objects: []projector.ChangedObject{{ObjectType: "table", Identity: "public.users"}}, User: "alice", ApplicationName: "psql"}, ""),
			[]string{"schema-drift"}, "ALTER TABLE run outside the migrations by alice (psql)"},
		{s.ev(projector.TypeMigrationResolved, projector.Resolved{ID: "0004_idx", Decision: "failed", Reason: "dropped it"}, "1.3.0"), []string{"in-doubt recovered"}, ""},
		{s.ev(projector.TypeSchemaDriftAccepted, projector.DriftAccepted{Fingerprint: "f4", Objects: 5, Reason: "hotfix kept"}, "1.3.0"), []string{"schema-drift recovered"}, ""},
		{s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_orders", Checksum: "c2", Transactional: true}, "1.3.0"),
			[]string{"unknown-migration", "migration-failed recovered"}, "0002_orders"},
	}
	ids := map[string]bool{}
	for i, st := range steps {
		clock.now = clock.now.Add(time.Second)
		got, err := g.Apply(st.ev)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.ev.Type, err)
		}
		if !slices.Equal(kindsOf(got), st.want) {
			t.Fatalf("step %d (%s): alerts %v, want %v", i, st.ev.Type, kindsOf(got), st.want)
		}
		if st.text != "" && !strings.Contains(got[0].Message, st.text) {
			t.Errorf("step %d: message %q does not say %q", i, got[0].Message, st.text)
		}
		for _, a := range got {
			if a.Release != "1.2.0" || a.Seq == 0 || a.State == "" || !a.At.Equal(clock.now) {
				t.Errorf("step %d: alert without its facts (or not raised now): %+v", i, a)
			}
			if ids[a.MsgID()] {
				t.Errorf("step %d: alert id %s used before", i, a.MsgID())
			}
			ids[a.MsgID()] = true
		}
	}
	if got := g.Judge(); len(got) != 0 {
		t.Fatalf("judged again with nothing new: %v", kindsOf(got))
	}
	// A watcher that replays the same events alerts what holds, once, with
	// the id a live watcher used for that state: JetStream stores it once.
	g2 := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now))
	for _, st := range steps[:5] {
		if err := g2.Fold(st.ev); err != nil {
			t.Fatal(err)
		}
	}
	replayed := g2.Judge()
	g3 := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now))
	var live []watch.Alert
	for _, st := range steps[:5] {
		as, _ := g3.Apply(st.ev)
		live = append(live, as...)
	}
	if len(replayed) != 1 || len(live) != 1 || live[0].MsgID() != replayed[0].MsgID() {
		t.Fatalf("live alerts %v and replayed alerts %v differ", live, replayed)
	}
}

// Bug 1 (alert storm): 297 unknown migrations applied in 30 runs give one
// alert per run that changed the state, each naming every unknown
// migration; a run of two gives one alert naming both.
func TestGuardStormIsOneAlertPerBurst(t *testing.T) {
	s := &stream{t: t, at: time.Now()}
	known := policy.Manifest{AppVersion: "1.0.0"}
	g := watch.NewGuard(known, policy.Strict)
	if err := g.Fold(s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "2.0.0")); err != nil {
		t.Fatal(err)
	}
	var alerts []watch.Alert
	n := 0
	for run := range 30 {
		per := 10
		if run == 29 {
			per = 297 - n
		}
		for range per {
			n++
			if err := g.Fold(s.ev(projector.TypeMigrationApplied, projector.Applied{ID: fmt.Sprintf("%04d_m", n), Checksum: "c", Transactional: true}, "2.0.0")); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.Fold(s.ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: fmt.Sprint("f", run), Objects: n}, "2.0.0")); err != nil {
			t.Fatal(err)
		}
		as := g.Judge()
		if len(as) != 1 || len(as[0].Migrations) != n {
			t.Fatalf("run %d: %d alerts (want 1 naming all %d unknown migrations): %v", run, len(as), n, kindsOf(as))
		}
		alerts = append(alerts, as...)
	}
	if n != 297 || len(alerts) != 30 {
		t.Fatalf("%d migrations gave %d alerts, want 30", n, len(alerts))
	}
	// An up of two unknown migrations: one alert, naming both.
	s = &stream{t: t, at: time.Now()}
	g = watch.NewGuard(known, policy.Strict)
	for _, e := range []projector.Event{
		s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "2.0.0"),
		s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_a", Checksum: "c", Transactional: true}, "2.0.0"),
		s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_b", Checksum: "c", Transactional: true}, "2.0.0"),
	} {
		if err := g.Fold(e); err != nil {
			t.Fatal(err)
		}
	}
	if as := g.Judge(); len(as) != 1 || len(as[0].Migrations) != 2 {
		t.Fatalf("an up of two: %v", as)
	}
}

// Bug 2 (a real alert dropped): a mismatch, its recovery, and the same
// mismatch again are three alerts with three ids, each raised now.
func TestGuardRepeatAfterRecoveryIsANewAlert(t *testing.T) {
	s := &stream{t: t, at: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	clock := &fixedClock{now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	known := policy.Manifest{AppVersion: "1.0.0", Migrations: []policy.Known{{ID: "0001_a", Checksum: "good"}}}
	g := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now))
	var got []watch.Alert
	for _, e := range []projector.Event{
		s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.0.0"),
		s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_a", Checksum: "bad", Transactional: true}, "1.0.0"),
		// Reverted (recovered: only pending), then the same file applied
		// again. (An accept cannot bring a mismatch back: the checksum it
		// replaces stays valid.)
		s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0001_a", Source: "file"}, "1.0.0"),
		s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_a", Checksum: "bad", Transactional: true}, "1.0.0"),
	} {
		clock.now = clock.now.Add(time.Minute)
		as, err := g.Apply(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if !a.At.Equal(clock.now) {
				t.Errorf("%s raised at %s, want now (%s)", status(a), a.At, clock.now)
			}
		}
		got = append(got, as...)
	}
	if !slices.Equal(kindsOf(got), []string{"checksum-mismatch", "checksum-mismatch recovered", "checksum-mismatch"}) {
		t.Fatalf("alerts %v", kindsOf(got))
	}
	if got[0].State != got[2].State || got[0].MsgID() == got[2].MsgID() {
		t.Fatalf("the same state again must be a new alert: ids %s and %s", got[0].MsgID(), got[2].MsgID())
	}
}

// Bug 3 (duplicate drift): the drift polling found, recorded later by a
// run's schema.drifted, is one alert.
func TestGuardDriftSeenTwoWaysIsOneAlert(t *testing.T) {
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
	if !g.SchemaFound("f2", []string{"+ column public.t.x integer null"}, time.Now()) {
		t.Fatal("drift not found")
	}
	if as := g.Judge(); !slices.Equal(kindsOf(as), []string{"schema-drift"}) {
		t.Fatalf("polled drift: %v", kindsOf(as))
	}
	as, err := g.Apply(s.ev(projector.TypeSchemaDrifted, projector.Drifted{Fingerprint: "f2", Objects: 2, Recorded: "f1", RecordedSeq: 2, Changes: []string{"+ column public.t.x integer null"}}, "1.0.0"))
	if err != nil || len(as) != 0 {
		t.Fatalf("the same drift from the stream: %v %v", kindsOf(as), err)
	}
}

// Bug 4 (false in-doubt): a live guard does not call a running
// no-transaction migration in doubt; finished 10 ms later it never is. One
// that stays started is in doubt after the grace period, and a replaying
// guard says the same of one started long ago.
func TestGuardInDoubtAfterGrace(t *testing.T) {
	s := &stream{t: t, at: time.Now().Add(-time.Hour)}
	clock := &fixedClock{now: time.Now()}
	known := policy.Manifest{AppVersion: "1.0.0", Migrations: []policy.Known{{ID: "0001_idx", Checksum: "c"}}}
	g := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now), watch.WithInDoubtGrace(30*time.Second))
	if _, err := g.Apply(s.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	g.Live()
	started := s.ev(projector.TypeMigrationStarted, projector.Started{ID: "0001_idx", Checksum: "c"}, "1.0.0")
	if as, _ := g.Apply(started); len(as) != 0 {
		t.Fatalf("started: %v", kindsOf(as))
	}
	if due := g.NextDue(); !due.Equal(clock.now.Add(30 * time.Second)) {
		t.Fatalf("next due %s", due)
	}
	clock.now = clock.now.Add(10 * time.Millisecond)
	if as, _ := g.Apply(s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_idx", Checksum: "c"}, "1.0.0")); len(as) != 0 {
		t.Fatalf("applied 10ms later: %v", kindsOf(as))
	}
	clock.now = clock.now.Add(time.Minute)
	if as := g.Judge(); len(as) != 0 || !g.NextDue().IsZero() {
		t.Fatalf("after the grace: %v", kindsOf(as))
	}

	// Started again (another id) and nothing after: in doubt after the grace.
	if _, err := g.Apply(s.ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0001_idx", Source: "file"}, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if as, _ := g.Apply(s.ev(projector.TypeMigrationStarted, projector.Started{ID: "0001_idx", Checksum: "c"}, "1.0.0")); len(as) != 0 {
		t.Fatalf("started: %v", kindsOf(as))
	}
	clock.now = clock.now.Add(29 * time.Second)
	if as := g.Judge(); len(as) != 0 {
		t.Fatalf("within the grace: %v", kindsOf(as))
	}
	clock.now = clock.now.Add(time.Second)
	if as := g.Judge(); !slices.Equal(kindsOf(as), []string{"in-doubt"}) {
		t.Fatalf("after the grace: %v", kindsOf(as))
	}

	// A guard replaying the stream: the first start finished (nothing), the
	// second, an hour old, is in doubt.
	late := watch.NewGuard(known, policy.Strict, watch.WithClock(clock.Now), watch.WithInDoubtGrace(30*time.Second))
	s2 := &stream{t: t, at: time.Now().Add(-time.Hour)}
	for _, e := range []projector.Event{
		s2.ev(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"}, "1.0.0"),
		s2.ev(projector.TypeMigrationStarted, projector.Started{ID: "0001_idx", Checksum: "c"}, "1.0.0"),
		s2.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_idx", Checksum: "c"}, "1.0.0"),
	} {
		if err := late.Fold(e); err != nil {
			t.Fatal(err)
		}
	}
	if as := late.Judge(); len(as) != 0 {
		t.Fatalf("replayed, finished: %v", kindsOf(as))
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
	if g.SchemaFound("f1", nil, time.Now()) {
		t.Fatal("same fingerprint found as drift")
	}
	g.SchemaFound("f2", []string{"+ table public.t"}, time.Now())
	as := g.Judge()
	if len(as) != 1 || as[0].Kind != watch.KindDrift || !strings.Contains(as[0].Message, "+ table public.t") {
		t.Fatalf("drift: %+v", as)
	}
	if g.SchemaFound("f2", []string{"+ table public.t"}, time.Now()) {
		t.Fatal("the same drift twice")
	}
	g.SchemaFound("f3", []string{"+ table public.u"}, time.Now())
	if as := g.Judge(); len(as) != 1 || len(as[0].Drifts) != 2 || len(as[0].Changes) != 2 {
		t.Fatalf("a further change: the alert states both drifts: %+v", as)
	}
	if _, err := g.Apply(s.ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_x", Checksum: "c", Transactional: true}, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if g.SchemaFound("f9", nil, time.Now()) {
		t.Fatal("stale snapshot found as drift")
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
