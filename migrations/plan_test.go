package migrations_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// history builds a ledger projection by folding real events, as the event
// store does, so Plan sees exactly what it would read from a database.
type history struct {
	t      *testing.T
	set    *migrations.Set // checksums of the migrations it knows come from here
	at     time.Time
	events []projector.Event
}

func newHistory(t *testing.T, set *migrations.Set) *history {
	t.Helper()
	h := &history{t: t, set: set, at: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	h.add("", projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"})
	return h
}

func (h *history) add(app, typ string, payload any) *history {
	h.t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		h.t.Fatalf("new %s event: %v", typ, err)
	}
	e.Seq = int64(len(h.events) + 1)
	e.RecordedAt = h.at
	e.AppVersion, e.Host, e.Actor = app, "web-1", "deploy"
	h.events = append(h.events, e)
	h.at = h.at.Add(time.Minute)
	return h
}

// checksum is the set's checksum for a migration it knows, and a checksum of
// a file this set does not have otherwise.
func (h *history) checksum(id string) string {
	if m, ok := h.set.Lookup(id); ok {
		return m.Checksum
	}
	s := sha256.Sum256([]byte("-- a newer release's " + id))
	return hex.EncodeToString(s[:])
}

// up records ids as applied by release app, with their down SQL recorded.
func (h *history) up(app string, ids ...string) *history {
	h.t.Helper()
	for _, id := range ids {
		h.apply(app, projector.Applied{ID: id, Checksum: h.checksum(id), Transactional: true, DownSQL: "-- down " + id + "\nSELECT 1;", DownChecksum: "d-" + id})
	}
	return h
}

func (h *history) apply(app string, a projector.Applied) *history {
	h.t.Helper()
	return h.add(app, projector.TypeMigrationApplied, a)
}

func (h *history) started(app, id string) *history {
	h.t.Helper()
	return h.add(app, projector.TypeMigrationStarted, projector.Started{ID: id, Checksum: h.checksum(id)})
}

func (h *history) state() projector.State {
	h.t.Helper()
	s, err := projector.Fold(h.events)
	if err != nil {
		h.t.Fatalf("fold: %v", err)
	}
	return s
}

// fourMigrations is release 1.2.0's set: 0001 to 0003 with down files, 0004
// without one.
var fourMigrations = map[string]string{
	"0001_users":       "CREATE TABLE users (id int);",
	"0001_users.down":  "DROP TABLE users;",
	"0002_orders":      "CREATE TABLE orders (id int);",
	"0002_orders.down": "DROP TABLE orders;",
	"0003_index":       "CREATE INDEX orders_id ON orders (id);",
	"0003_index.down":  "DROP INDEX orders_id;",
	"0004_email":       "ALTER TABLE users ADD COLUMN email text;",
}

func withFiles(base map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func planError(t *testing.T, err error) *migrations.PlanError {
	t.Helper()
	var perr *migrations.PlanError
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T), want a *PlanError", err, err)
	}
	return perr
}

func TestPlanUp(t *testing.T) {
	set := load(t, fourMigrations)
	up := func(app string, p policy.Policy) migrations.Target {
		return migrations.Target{Direction: migrations.DirUp, AppVersion: app, Policy: p}
	}
	tests := []struct {
		name     string
		history  func(h *history)
		target   migrations.Target
		steps    []string
		decision policy.Decision
	}{
		{"fresh database: all pending", func(*history) {}, up("1.2.0", policy.Strict),
			[]string{"0001_users", "0002_orders", "0003_index", "0004_email"}, policy.Migrate},
		{"zero target: all pending, strict", func(*history) {}, migrations.Target{},
			[]string{"0001_users", "0002_orders", "0003_index", "0004_email"}, policy.Migrate},
		{"up to a target", func(*history) {}, withID(up("1.2.0", policy.Strict), "0002_orders"),
			[]string{"0001_users", "0002_orders"}, policy.Migrate},
		{"the rest after a partial up", func(h *history) { h.up("1.1.0", "0001_users", "0002_orders") }, up("1.2.0", policy.Strict),
			[]string{"0003_index", "0004_email"}, policy.Migrate},
		{"target already applied", func(h *history) { h.up("1.1.0", "0001_users", "0002_orders") }, withID(up("1.2.0", policy.Strict), "0001_users"),
			nil, policy.Migrate},
		{"everything applied", func(h *history) { h.up("1.2.0", "0001_users", "0002_orders", "0003_index", "0004_email") }, up("1.2.0", policy.Strict),
			nil, policy.Run},
		{"compatible: an unknown migration whose constraint this release satisfies", func(h *history) {
			h.up("1.1.0", "0001_users", "0002_orders")
			h.apply("1.3.0", projector.Applied{ID: "0002_zz_hotfix", Checksum: h.checksum("0002_zz_hotfix"), Compatible: ">=1.2.0 <2.0.0", Transactional: true})
		}, up("1.2.0", policy.Compatible), []string{"0003_index", "0004_email"}, policy.Migrate},
		{"compatible: everything known applied, the unknown one allowed", func(h *history) {
			h.up("1.2.0", "0001_users", "0002_orders", "0003_index", "0004_email")
			h.apply("1.3.0", projector.Applied{ID: "0005_drop", Checksum: h.checksum("0005_drop"), Compatible: ">=1.2.0", Transactional: true})
		}, up("1.2.0", policy.Compatible), nil, policy.Run},
		{"out of order allowed by the policy", func(h *history) { h.up("1.1.0", "0001_users", "0003_index") },
			up("1.2.0", policy.Policy{Rule: policy.RuleStrict, AllowOutOfOrder: true}), []string{"0002_orders", "0004_email"}, policy.Migrate},
		{"out of order allowed, up to a target", func(h *history) { h.up("1.1.0", "0001_users", "0003_index") },
			withID(up("1.2.0", policy.Policy{AllowOutOfOrder: true}), "0002_orders"), []string{"0002_orders"}, policy.Migrate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, set)
			tt.history(h)
			plan, err := set.Plan(h.state(), tt.target)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if plan.Direction != migrations.DirUp || plan.Verdict.Decision != tt.decision {
				t.Errorf("direction %s, verdict %s; want up, %s", plan.Direction, plan.Verdict.Decision, tt.decision)
			}
			if got, want := strings.Join(plan.IDs(), ","), strings.Join(tt.steps, ","); got != want {
				t.Errorf("steps %q, want %q", got, want)
			}
			for _, s := range plan.Steps {
				if s.Direction != migrations.DirUp || s.Migration == nil || s.Migration.ID != s.ID || s.Recorded != nil || s.UsesRecorded() {
					t.Errorf("step %+v: want an up step carrying its migration", s)
				}
			}
		})
	}
}

func withID(t migrations.Target, id string) migrations.Target { t.ID = id; return t }

func TestPlanUpRefuses(t *testing.T) {
	set := load(t, fourMigrations)
	up := func(app string, p policy.Policy) migrations.Target {
		return migrations.Target{Direction: migrations.DirUp, AppVersion: app, Policy: p}
	}
	all := []string{"0001_users", "0002_orders", "0003_index", "0004_email"}
	tests := []struct {
		name      string
		history   func(h *history)
		target    migrations.Target
		code      policy.Code
		integrity bool
		mentions  []string
		check     func(t *testing.T, v policy.Verdict)
	}{
		{"unknown migration under strict", func(h *history) {
			h.up("1.2.0", all...)
			h.up("1.3.0", "0005_drop_column")
		}, up("1.2.0", policy.Strict), policy.CodeUnknown, false, []string{"0005_drop_column", "1.3.0", "web-1"},
			func(t *testing.T, v policy.Verdict) {
				if len(v.Unknown) != 1 || v.Unknown[0].ID != "0005_drop_column" || v.Unknown[0].AppVersion != "1.3.0" || v.Unknown[0].Allowed {
					t.Errorf("unknown %+v", v.Unknown)
				}
				if v.RollbackTo != "0004_email" {
					t.Errorf("rollback to %q, want 0004_email", v.RollbackTo)
				}
			}},
		{"unknown migration under strict with pending ones", func(h *history) {
			h.up("1.1.0", "0001_users", "0002_orders")
			h.up("1.3.0", "0002_zz_hotfix")
		}, up("1.2.0", policy.Strict), policy.CodeUnknown, false, []string{"0002_zz_hotfix"},
			func(t *testing.T, v policy.Verdict) {
				if strings.Join(v.Pending, ",") != "0003_index,0004_email" {
					t.Errorf("pending %v", v.Pending)
				}
			}},
		{"compatible: constraint not satisfied", func(h *history) {
			h.up("1.2.0", all...)
			h.apply("1.3.0", projector.Applied{ID: "0005_drop", Checksum: h.checksum("0005_drop"), Compatible: ">=1.3.0", Transactional: true})
		}, up("1.2.0", policy.Compatible), policy.CodeIncompatible, false, []string{"0005_drop", ">=1.3.0"}, nil},
		{"compatible: no constraint recorded", func(h *history) {
			h.up("1.2.0", all...)
			h.up("1.3.0", "0005_drop")
		}, up("1.2.0", policy.Compatible), policy.CodeIncompatible, false, []string{"0005_drop", "no compatibility constraint"}, nil},
		{"checksum mismatch", func(h *history) {
			h.up("1.2.0", "0001_users")
			h.apply("1.2.0", projector.Applied{ID: "0002_orders", Checksum: strings.Repeat("ab", 32), Transactional: true})
		}, up("1.2.0", policy.Strict), policy.CodeChecksumMismatch, true, []string{"0002_orders", "abababababab"},
			func(t *testing.T, v policy.Verdict) {
				if len(v.Mismatched) != 1 || v.Mismatched[0].ID != "0002_orders" || v.Mismatched[0].Recorded != strings.Repeat("ab", 32) {
					t.Errorf("mismatched %+v", v.Mismatched)
				}
			}},
		{"in doubt", func(h *history) {
			h.up("1.2.0", "0001_users", "0002_orders")
			h.started("1.2.0", "0003_index")
		}, up("1.2.0", policy.Strict), policy.CodeInDoubt, true, []string{"0003_index", "check what 0003_index left in the database, then resume it"},
			func(t *testing.T, v policy.Verdict) {
				if len(v.InDoubt) != 1 || v.InDoubt[0].ID != "0003_index" {
					t.Errorf("in doubt %+v", v.InDoubt)
				}
			}},
		{"in doubt, not in this set", func(h *history) {
			h.up("1.2.0", all...)
			h.started("1.3.0", "0005_concurrent_index")
		}, up("1.2.0", policy.Compatible), policy.CodeInDoubt, true, []string{"0005_concurrent_index"}, nil},
		{"out of order", func(h *history) { h.up("1.1.0", "0001_users", "0003_index") },
			up("1.2.0", policy.Strict), policy.CodeOutOfOrder, false, []string{"0002_orders", "0003_index"},
			func(t *testing.T, v policy.Verdict) {
				if strings.Join(v.OutOfOrder, ",") != "0002_orders" {
					t.Errorf("out of order %v", v.OutOfOrder)
				}
			}},
		{"out of order, up to the out-of-order target", func(h *history) { h.up("1.1.0", "0001_users", "0003_index") },
			withID(up("1.2.0", policy.SameMajor), "0002_orders"), policy.CodeOutOfOrder, false, []string{"0002_orders"}, nil},
		{"invalid app version", func(*history) {}, up("1.2", policy.Strict), policy.CodeInvalidInput, false, []string{`"1.2"`}, nil},
		{"same-major needs an app version", func(h *history) { h.up("1.2.0", all...).up("1.3.0", "0005_drop") },
			up("", policy.SameMajor), policy.CodeInvalidInput, false, []string{"app version"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, set)
			tt.history(h)
			plan, err := set.Plan(h.state(), tt.target)
			perr := planError(t, err)
			if perr.Direction != migrations.DirUp || perr.Verdict == nil {
				t.Fatalf("PlanError %+v: want an up refusal carrying the verdict", perr)
			}
			v := *perr.Verdict
			if v.Decision != policy.Refuse || !v.Has(tt.code) || v.Integrity() != tt.integrity {
				t.Errorf("verdict %s, reasons %+v, integrity %v; want refuse with %s, integrity %v", v.Decision, v.Reasons, v.Integrity(), tt.code, tt.integrity)
			}
			if len(plan.Steps) != 0 {
				t.Errorf("a refused plan has steps %v", plan.IDs())
			}
			if plan.Verdict.Decision != policy.Refuse {
				t.Errorf("plan verdict %s, want refuse", plan.Verdict.Decision)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "up refused: refuse: ") {
				t.Errorf("error does not start with the refusal: %s", msg)
			}
			for _, s := range tt.mentions {
				if !strings.Contains(msg, s) {
					t.Errorf("error does not mention %q:\n%s", s, msg)
				}
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

func TestPlanUpUnknownTarget(t *testing.T) {
	set := load(t, fourMigrations)
	h := newHistory(t, set).up("1.2.0", "0001_users")
	_, err := set.Plan(h.state(), migrations.Target{Direction: migrations.DirUp, ID: "0009_nope", AppVersion: "1.2.0"})
	perr := planError(t, err)
	if perr.Verdict != nil || len(perr.Reasons) != 1 {
		t.Fatalf("PlanError %+v: want one reason and no verdict", perr)
	}
	for _, s := range []string{"0009_nope", "not a migration of this set", "0001_users", "0004_email"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q: %v", s, err)
		}
	}
	// The same in an empty set says so.
	empty := load(t, map[string]string{})
	_, err = empty.Plan(projector.NewState(), migrations.Target{ID: "0001_users"})
	if planError(t, err); !strings.Contains(err.Error(), "the set is empty") {
		t.Errorf("empty set: %v", err)
	}
}

func TestPlanDown(t *testing.T) {
	set := load(t, fourMigrations)
	three := []string{"0001_users", "0002_orders", "0003_index"}
	down := func(id string, steps int) migrations.Target {
		return migrations.Target{Direction: migrations.DirDown, ID: id, Steps: steps, AppVersion: "1.2.0"}
	}
	tests := []struct {
		name    string
		history func(h *history)
		target  migrations.Target
		steps   []string
		recFrom []bool // per step: reverted with the recorded down SQL
	}{
		{"one step", func(h *history) { h.up("1.2.0", three...) }, down("", 1), []string{"0003_index"}, nil},
		{"steps go newest first", func(h *history) { h.up("1.2.0", three...) }, down("", 2), []string{"0003_index", "0002_orders"}, nil},
		{"newest by id, not by when applied", func(h *history) { h.up("1.2.0", "0001_users", "0003_index").up("1.2.0", "0002_orders") },
			down("", 2), []string{"0003_index", "0002_orders"}, nil},
		{"more steps than applied", func(h *history) { h.up("1.2.0", three...) }, down("", 9), []string{"0003_index", "0002_orders", "0001_users"}, nil},
		{"to an id keeps it", func(h *history) { h.up("1.2.0", three...) }, down("0001_users", 0), []string{"0003_index", "0002_orders"}, nil},
		{"to the newest does nothing", func(h *history) { h.up("1.2.0", three...) }, down("0003_index", 0), nil, nil},
		{"to a known id not applied", func(h *history) { h.up("1.2.0", "0001_users", "0003_index") }, down("0002_orders", 0), []string{"0003_index"}, nil},
		{"to 0 reverts all", func(h *history) { h.up("1.2.0", three...) }, down("0", 0), []string{"0003_index", "0002_orders", "0001_users"}, nil},
		{"nothing applied", func(*history) {}, down("0", 0), nil, nil},
		{"recorded down for unknown migrations", func(h *history) { h.up("1.2.0", three...).up("1.3.0", "0005_drop", "0006_rename") },
			withRecorded(down("0002_orders", 0)), []string{"0006_rename", "0005_drop", "0003_index"}, []bool{true, true, false}},
		{"recorded down to an unknown id", func(h *history) { h.up("1.2.0", three...).up("1.3.0", "0005_drop", "0006_rename") },
			withRecorded(down("0005_drop", 0)), []string{"0006_rename"}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, set)
			tt.history(h)
			state := h.state()
			plan, err := set.Plan(state, tt.target)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if plan.Direction != migrations.DirDown {
				t.Errorf("direction %s", plan.Direction)
			}
			if got, want := strings.Join(plan.IDs(), ","), strings.Join(tt.steps, ","); got != want {
				t.Fatalf("steps %q, want %q", got, want)
			}
			for i, s := range plan.Steps {
				rec := tt.recFrom != nil && tt.recFrom[i]
				if s.Direction != migrations.DirDown || s.UsesRecorded() != rec || (s.Migration == nil) != rec {
					t.Errorf("step %d %s: uses recorded %v, migration %v; want recorded %v", i, s.ID, s.UsesRecorded(), s.Migration != nil, rec)
				}
				if s.Recorded == nil || s.Recorded.ID != s.ID || s.Recorded.Seq != state.Applied[s.ID].Seq {
					t.Errorf("step %d %s: recorded %+v, want the ledger's record", i, s.ID, s.Recorded)
				}
			}
		})
	}
}

func withRecorded(t migrations.Target) migrations.Target { t.UseRecorded = true; return t }

func TestPlanDownRefuses(t *testing.T) {
	set := load(t, fourMigrations)
	three := []string{"0001_users", "0002_orders", "0003_index"}
	down := func(id string, steps int) migrations.Target {
		return migrations.Target{Direction: migrations.DirDown, ID: id, Steps: steps}
	}
	tests := []struct {
		name     string
		set      *migrations.Set // nil: set
		history  func(h *history)
		target   migrations.Target
		unknown  []string
		mentions []string
	}{
		{"both a target and steps", nil, func(h *history) { h.up("1.2.0", three...) }, down("0001_users", 1), nil, []string{"not both"}},
		{"neither a target nor steps", nil, func(h *history) { h.up("1.2.0", three...) }, down("", 0), nil, []string{"a target id", "a number of steps"}},
		{"negative steps", nil, func(h *history) { h.up("1.2.0", three...) }, down("", -1), nil, []string{"steps -1"}},
		{"target neither applied nor known", nil, func(h *history) { h.up("1.2.0", three...) }, down("0009_nope", 0), nil, []string{"0009_nope"}},
		{"unknown migrations", nil, func(h *history) { h.up("1.2.0", three...).up("1.3.0", "0005_drop", "0006_rename") },
			down("0002_orders", 0), []string{"0006_rename", "0005_drop"}, []string{"0006_rename, 0005_drop", "the down SQL recorded when they were applied"}},
		{"unknown migrations within the steps only", nil, func(h *history) { h.up("1.2.0", three...).up("1.3.0", "0005_drop", "0006_rename") },
			down("", 1), []string{"0006_rename"}, []string{"0006_rename"}},
		{"recorded down missing", nil, func(h *history) {
			h.up("1.2.0", three...)
			h.apply("1.3.0", projector.Applied{ID: "0005_drop", Checksum: h.checksum("0005_drop"), Transactional: true})
		}, withRecorded(down("", 1)), []string{"0005_drop"}, []string{"0005_drop", "no down SQL was recorded", "1.3.0"}},
		{"known migration without a down file", nil, func(h *history) { h.up("1.2.0", three...).up("1.2.0", "0004_email") },
			down("", 1), nil, []string{"0004_email has no down file", "its down SQL was recorded"}},
		{"known migration without a down file, none recorded", nil, func(h *history) {
			h.up("1.2.0", three...)
			h.apply("1.2.0", projector.Applied{ID: "0004_email", Checksum: h.checksum("0004_email"), Transactional: true})
		}, withRecorded(down("0", 0)), nil, []string{"0004_email has no down file"}},
		{"up checksum differs", load(t, withFiles(fourMigrations, map[string]string{"0003_index": "CREATE INDEX orders_id ON orders (id, id);"})),
			func(h *history) {
				h.up("1.2.0", "0001_users", "0002_orders")
				h.apply("1.2.0", projector.Applied{ID: "0003_index", Checksum: checksumOf("CREATE INDEX orders_id ON orders (id);"), Transactional: true})
			}, down("", 1), nil, []string{"0003_index", "checksum"}},
		{"in doubt", nil, func(h *history) { h.up("1.2.0", three...).started("1.2.0", "0004_email") },
			down("", 1), nil, []string{"0004_email is in doubt", "settle it first"}},
		{"in doubt, even with recorded down", nil, func(h *history) { h.up("1.2.0", three...).started("1.3.0", "0005_concurrent") },
			withRecorded(down("0", 0)), nil, []string{"0005_concurrent is in doubt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.set
			if s == nil {
				s = set
			}
			h := newHistory(t, s)
			tt.history(h)
			_, err := s.Plan(h.state(), tt.target)
			perr := planError(t, err)
			if perr.Direction != migrations.DirDown || perr.Verdict != nil || len(perr.Reasons) == 0 {
				t.Errorf("PlanError %+v: want a down refusal with reasons", perr)
			}
			if got, want := strings.Join(perr.Unknown, ","), strings.Join(tt.unknown, ","); got != want {
				t.Errorf("unknown %q, want %q", got, want)
			}
			if !strings.HasPrefix(err.Error(), "down refused") {
				t.Errorf("error: %v", err)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q:\n%v", m, err)
				}
			}
			if strings.Contains(err.Error(), "ledger ") || strings.Contains(err.Error(), "--") {
				t.Errorf("a library error holds CLI advice:\n%v", err)
			}
			for _, f := range migrations.Fixes(err) {
				if f.Action == migrations.FixSettle && f.ID == "" {
					t.Errorf("a settle fix without its migration: %+v", f)
				}
			}
		})
	}
}

func checksumOf(text string) string {
	s := sha256.Sum256([]byte(text))
	return hex.EncodeToString(s[:])
}

// Plan is pure: planning twice from one state gives the same plan, and the
// state is not changed.
func TestPlanIsPure(t *testing.T) {
	set := load(t, fourMigrations)
	state := newHistory(t, set).up("1.2.0", "0001_users", "0002_orders").up("1.3.0", "0005_drop").state()
	before := state.Clone()
	for _, target := range []migrations.Target{
		{Direction: migrations.DirUp, AppVersion: "1.2.0", Policy: policy.Strict},
		{Direction: migrations.DirDown, ID: "0", UseRecorded: true},
	} {
		a, errA := set.Plan(state, target)
		b, errB := set.Plan(state, target)
		if strings.Join(a.IDs(), ",") != strings.Join(b.IDs(), ",") || (errA == nil) != (errB == nil) {
			t.Errorf("%s: two plans differ: %v %v / %v %v", target.Direction, a.IDs(), errA, b.IDs(), errB)
		}
	}
	if d := projector.Diff(before, state); d != nil {
		t.Errorf("Plan changed the state: %v", d)
	}
}

// Issue 25, item 11 (library): up --steps N applies the next N pending
// migrations; --to takes a version number as well as an id, for up and
// down (4 is 0004_email).
func TestPlanStepsAndVersionTargets(t *testing.T) {
	set := load(t, withFiles(fourMigrations, map[string]string{"0004_email.down": "ALTER TABLE users DROP COLUMN email;"}))
	h := newHistory(t, set).up("1.2.0", "0001_users")
	up := migrations.Target{Direction: migrations.DirUp, Policy: policy.Strict}
	for _, c := range []struct {
		target migrations.Target
		want   string
	}{
		{migrations.Target{Direction: migrations.DirUp, Steps: 1}, "0002_orders"},
		{migrations.Target{Direction: migrations.DirUp, Steps: 2}, "0002_orders 0003_index"},
		{migrations.Target{Direction: migrations.DirUp, Steps: 9}, "0002_orders 0003_index 0004_email"},
		{withID(up, "3"), "0002_orders 0003_index"},
		{withID(up, "0003"), "0002_orders 0003_index"},
		{withID(up, "0003_index"), "0002_orders 0003_index"},
	} {
		plan, err := set.Plan(h.state(), c.target)
		if err != nil || strings.Join(plan.IDs(), " ") != c.want {
			t.Errorf("%+v: %v %v, want %s", c.target, plan.IDs(), err, c.want)
		}
	}
	if _, err := set.Plan(h.state(), withID(up, "7")); planError(t, err).BadTarget != true {
		t.Errorf("up --to 7: %v", err)
	}
	h.up("1.2.0", "0002_orders", "0003_index", "0004_email")
	plan, err := set.Plan(h.state(), migrations.Target{Direction: migrations.DirDown, ID: "2"})
	if err != nil || strings.Join(plan.IDs(), " ") != "0004_email 0003_index" {
		t.Errorf("down --to 2: %v %v", plan.IDs(), err)
	}
}
