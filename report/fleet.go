package report

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// Member is one ledger of a fleet, as the caller reached it.
type Member struct {
	Name  string        // unique within the fleet (a targets file's name=)
	Where string        // the database, without its password
	Store *ledger.Store // nil: Err says why it could not be reached
	// Verify verifies it (nil: ChainVerifier(Store)).
	Verify Verifier
	// Err: the ledger could not be reached or read; its row says so.
	Err error
}

// Cell states of the fleet's migration matrix.
const (
	CellApplied = "applied"
	CellFailed  = "failed"   // failed, and not applied
	CellInDoubt = "in-doubt" // started without a transaction, never finished
)

// Fleet is the model of a fleet's page: a row per ledger; the matrix of
// ledgers by migration (applied, failed, in doubt) and by release (which
// recorded events there, which run against it).
type Fleet struct {
	Title       string        `json:"title"`
	GeneratedAt time.Time     `json:"generated_at"`
	Ledgers     []FleetLedger `json:"ledgers"`
	// Migrations are the matrix's columns: every migration some ledger
	// holds applied, failed or in doubt, in order — less those every
	// ledger holds applied (Uniform counts them), unless there are few.
	Migrations []string `json:"migrations"`
	Uniform    int      `json:"uniform"`
	// Releases are the other matrix's columns: every release that
	// recorded an event in, or checked in with, some ledger.
	Releases []string `json:"releases"`
	// Problems counts the ledgers that fail verification, drifted, hold a
	// migration in doubt or failed, or could not be read.
	Problems int `json:"problems"`
	// Rollouts are the rollouts recorded in the fleet's control ledger,
	// oldest first, each with its per-target outcome, as the caller read
	// them (the CLI: fleet.Control's Status).
	Rollouts []Rollout `json:"rollouts,omitempty"`
}

// Rollout is one rollout of a migration set across the fleet, as its
// control ledger records it.
type Rollout struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // running, halted, interrupted, abandoned, finished
	Release    string    `json:"release"`
	Policy     string    `json:"policy,omitempty"`
	Migrations []string  `json:"migrations"`
	Who        string    `json:"who"` // the operator, actor@host
	Started    time.Time `json:"started"`
	Last       time.Time `json:"last"`
	// Why is why it halted or was interrupted ("" otherwise).
	Why     string          `json:"why,omitempty"`
	Targets []RolloutTarget `json:"targets"`
}

// RolloutTarget is one target's outcome in a rollout.
type RolloutTarget struct {
	Name     string        `json:"name"`
	Outcome  string        `json:"outcome"` // applied, at-set, failed, refused, skipped, pending
	Applied  []string      `json:"applied,omitempty"`
	SQLState string        `json:"sqlstate,omitempty"`
	Error    string        `json:"error,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	At       time.Time     `json:"at,omitzero"`
	Canary   bool          `json:"canary,omitempty"`
	// Checkpoint is the target ledger's SEQ:HASH after the outcome.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// Failed reports whether the target failed or was refused.
func (t RolloutTarget) Failed() bool { return t.Outcome == "failed" || t.Outcome == "refused" }

// FleetLedger is one row of the fleet.
type FleetLedger struct {
	Name   string `json:"name"`
	Where  string `json:"where"`
	Schema string `json:"schema"`
	// Error: the ledger could not be read; nothing else is known.
	Error        string       `json:"error,omitempty"`
	Verification Verification `json:"verification"`
	Now          State        `json:"now"`
	// Migrations maps each migration id of the matrix to its state here
	// (absent: not applied).
	Migrations map[string]string `json:"migrations"`
	// Releases maps each release to what it did here.
	Releases map[string]FleetRelease `json:"releases"`
	// Drift lists what changed outside the migrations and was not
	// accepted: recorded drift since the last acceptance, and the live
	// schema's difference (RunnerVerifier).
	Drift []string `json:"drift,omitempty"`
	// Failures are the failed migrations not applied since, with SQLSTATE.
	Failures []Failure `json:"failures,omitempty"`
	Events   int64     `json:"events"`
}

// FleetRelease is what one release did on one ledger.
type FleetRelease struct {
	Events    int      `json:"events"`              // events it recorded
	Failed    int      `json:"failed,omitempty"`    // of them, failures
	Instances int      `json:"instances,omitempty"` // running (checked in within the window)
	Decisions []string `json:"decisions,omitempty"` // their verdicts
}

// OK reports whether the ledger verifies, has no drift and nothing in doubt or failed.
func (l FleetLedger) OK() bool {
	return l.Error == "" && l.Verification.OK && len(l.Drift) == 0 && len(l.Now.InDoubt) == 0 && len(l.Now.Failed) == 0
}

// maxUniform: with at most this many migrations in all, every one is a
// column, even those every ledger holds.
const maxUniform = 12

// BuildFleet reports each member (Build, one after the other) and puts
// them side by side. A member that cannot be read is a row saying so, not
// an error.
func BuildFleet(ctx context.Context, members []Member, o Options) (*Fleet, error) {
	o.defaults()
	f := &Fleet{GeneratedAt: o.Now().UTC(), Title: o.Title}
	if f.Title == "" {
		f.Title = fmt.Sprintf("Schema history of a fleet of %d ledgers", len(members))
	}
	all := map[string]bool{}
	releases := map[string]bool{}
	for _, m := range members {
		row := FleetLedger{Name: m.Name, Where: m.Where, Migrations: map[string]string{}, Releases: map[string]FleetRelease{}}
		if m.Err != nil || m.Store == nil {
			row.Error = fmt.Sprint(m.Err)
			f.Ledgers = append(f.Ledgers, row)
			continue
		}
		row.Schema = m.Store.Schema()
		mo := o
		mo.Verify, mo.Database, mo.Title = m.Verify, m.Where, ""
		mo.MaxDetail, mo.MaxMarks = 1, 1
		r, err := Build(ctx, m.Store, mo)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			row.Error = err.Error()
			f.Ledgers = append(f.Ledgers, row)
			continue
		}
		row.Verification, row.Now, row.Events = r.Verification, r.Now, r.Cut.Total
		for _, id := range r.Now.AppliedIDs {
			row.Migrations[id] = CellApplied
		}
		for _, id := range r.Now.Failed {
			row.Migrations[id] = CellFailed
		}
		for _, id := range r.Now.InDoubt {
			row.Migrations[id] = CellInDoubt
		}
		for id := range row.Migrations {
			all[id] = true
		}
		for _, rel := range r.Releases {
			fr := row.Releases[rel.Version]
			fr.Events, fr.Failed = rel.Events, rel.Counts[KindFailed]
			row.Releases[rel.Version] = fr
			releases[rel.Version] = true
		}
		for _, s := range r.Seen {
			fr := row.Releases[s.Release]
			fr.Instances, fr.Decisions = s.Instances, s.Decisions
			row.Releases[s.Release] = fr
			releases[s.Release] = true
		}
		for _, d := range r.Drift.Items {
			if d.AcceptedSeq == 0 && !d.Captured {
				row.Drift = append(row.Drift, d.Changes...)
			}
		}
		row.Drift = append(row.Drift, r.Verification.LiveDrift...)
		row.Drift = slices.Compact(row.Drift)
		failedNow := map[string]bool{}
		for _, id := range r.Now.Failed {
			failedNow[id] = true
		}
		for _, fl := range r.Failures.Items {
			if failedNow[fl.Migration] {
				row.Failures = append(row.Failures, fl)
			}
		}
		f.Ledgers = append(f.Ledgers, row)
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	projector.SortIDs(ids)
	for _, id := range ids {
		uniform := len(ids) > maxUniform
		for _, l := range f.Ledgers {
			if l.Error != "" || l.Migrations[id] != CellApplied {
				uniform = false
				break
			}
		}
		if uniform {
			f.Uniform++
			continue
		}
		f.Migrations = append(f.Migrations, id)
	}
	for v := range releases {
		f.Releases = append(f.Releases, v)
	}
	sortReleases(f.Releases)
	for _, l := range f.Ledgers {
		if !l.OK() {
			f.Problems++
		}
	}
	return f, nil
}

// sortReleases orders versions by semver where they are one, the rest by name after them.
func sortReleases(vs []string) {
	sort.Slice(vs, func(i, j int) bool {
		a, aerr := semver.NewVersion(vs[i])
		b, berr := semver.NewVersion(vs[j])
		switch {
		case aerr == nil && berr == nil:
			if c := a.Compare(b); c != 0 {
				return c < 0
			}
			return vs[i] < vs[j]
		case aerr == nil:
			return true
		case berr == nil:
			return false
		}
		return vs[i] < vs[j]
	})
}

// RenderFleetHTML writes f as one self-contained HTML page, like RenderHTML.
func RenderFleetHTML(w io.Writer, f *Fleet) error {
	return render(w, "fleet", f)
}
