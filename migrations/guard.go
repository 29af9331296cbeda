package migrations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// WithFleetWindow sets how recent a release's sighting must be for up's
// guard to count it as running (default DefaultFleetWindow, 15 minutes).
func WithFleetWindow(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("fleet window %s: want a positive duration", d)
		}
		c.fleetWindow = d
		return nil
	}
}

// WithAllowBreaking lets up apply migrations that make a release still
// running refuse; each such migration's event records the releases it
// broke.
func WithAllowBreaking() Option {
	return func(c *config) error { c.allowBreaking = true; return nil }
}

// Broken is a running release that a plan would make refuse.
type Broken struct {
	AppVersion string    `json:"release"` // "" when it checked in without one
	Manifest   string    `json:"manifest_digest"`
	Policy     string    `json:"policy"`
	Instances  int       `json:"instances"`
	Hosts      []string  `json:"hosts"`
	LastSeen   time.Time `json:"last_seen"`
	LastHost   string    `json:"last_host"`
	// Migrations are the plan's migrations that make it refuse: unknown to
	// it, and not allowed by the policy it checked in with.
	Migrations []string `json:"migrations"`
	// Verdict is what it would be told once the plan is applied.
	Verdict policy.Verdict `json:"verdict_after"`
}

// BreakingError is an up refused because it would make releases that are
// still running refuse (up exits 4). Allow it with WithAllowBreaking.
type BreakingError struct {
	Window   time.Duration
	Now      time.Time // when the releases were last seen is told relative to it
	Releases []Broken
	Deploy   string // the app version of the release that is migrating ("" if none)
}

func (e *BreakingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "this up would make %d release(s) seen within the last %s refuse:", len(e.Releases), e.Window)
	deploy := "a release that ships them"
	if e.Deploy != "" {
		deploy = e.Deploy
	}
	for _, r := range e.Releases {
		fmt.Fprintf(&b, "\n  %s would make release %s refuse (%d instance(s), last seen %s ago on %s)",
			strings.Join(r.Migrations, ", "), r.Name(), r.Instances, e.Now.Sub(r.LastSeen).Round(time.Second), r.LastHost)
		if r.AppVersion == "" {
			// Without an app version no compatible constraint can admit it.
			fmt.Fprintf(&b, ": deploy %s everywhere first, or allow breaking it", deploy)
			continue
		}
		fmt.Fprintf(&b, ": deploy %s everywhere first, or mark the migration -- ledger:compatible >=%s if %s can run with it, or allow breaking it",
			deploy, r.AppVersion, r.AppVersion)
	}
	return b.String()
}

// GuardLockedError: up's guard could not read the sightings within the
// lock timeout — another session holds a lock on the table — so up
// refused rather than guess which running releases its plan breaks.
type GuardLockedError struct {
	Schema  string
	Waited  time.Duration
	Holders []string // the sessions holding the lock, from pg_locks
	Err     error
}

func (e *GuardLockedError) Error() string {
	msg := fmt.Sprintf("up's guard could not read the sightings of ledger schema %q within the lock timeout (%s): another session holds a lock on the table, so nothing was applied", e.Schema, e.Waited)
	if len(e.Holders) > 0 {
		msg += "\n  held by " + strings.Join(e.Holders, "; ")
	}
	return msg
}

func (e *GuardLockedError) Unwrap() error { return e.Err }

// Name is how a message names the release: its app version, or, for one
// that checked in without any, its manifest's digest.
func (b Broken) Name() string {
	if b.AppVersion != "" {
		return b.AppVersion
	}
	d := strings.TrimPrefix(b.Manifest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return "without an app version (manifest " + d + ")"
}

// guard checks a plan against the releases seen within the fleet window,
// each under the policy it checked in with: a plan that makes one refuse
// is a *BreakingError, unless breaking is allowed — then each step carries
// the releases it breaks into its event. With no sightings it says nothing.
// It returns what it found, for the report.
func (r *Runner) guard(ctx context.Context, store *ledger.Store, state projector.State, plan *Plan, rep *Report) error {
	return r.guardFrom(ctx, store, state, nil, plan, rep)
}

// guardFrom is guard for a plan that runs from state but is judged
// against before, the state the releases see now (a redo's re-apply runs
// from the reverted state): a release is broken by it when it refuses
// after the plan and did not before, for the plan's migrations it does
// not know or whose checksum it does not ship.
func (r *Runner) guardFrom(ctx context.Context, store *ledger.Store, state projector.State, before *projector.State, plan *Plan, rep *Report) error {
	broken, future, err := r.judgeFleet(ctx, store, state, before, plan)
	rep.Breaking, rep.IgnoredSightings = broken, future
	return err
}

// judgeFleet is the guard's work: the releases a plan breaks, and the
// sightings dated ahead it ignored.
func (r *Runner) judgeFleet(ctx context.Context, store *ledger.Store, state projector.State, before *projector.State, plan *Plan) ([]Broken, []ledger.FutureSighting, error) {
	if plan.Direction != DirUp || len(plan.Steps) == 0 {
		return nil, nil, nil
	}
	var at time.Time
	if r.cfg.clock != nil {
		at = r.cfg.clock()
	}
	seen, future, err := store.ReleasesSeen(ctx, ledger.SeenQuery{Window: r.cfg.fleetWindow, Now: at, Running: true})
	if errors.Is(err, ledger.ErrNotInitialized) {
		return nil, nil, nil
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
			// Refused, not guessed: without the sightings the guard
			// cannot say whom the plan breaks.
			return nil, nil, &GuardLockedError{Schema: store.Schema(), Waited: r.cfg.lockTimeout, Holders: store.TableLockers(ctx, "sightings"), Err: err}
		}
		return nil, nil, fmt.Errorf("read the releases seen within %s: %w", r.cfg.fleetWindow, err)
	}
	for _, f := range future {
		// check_in dates a sighting by the server's clock: one dated
		// ahead was written by hand, and would block every breaking up
		// until that date.
		r.cfg.logger.Warn("a sighting dated in the future is ignored (check-ins are dated by the server's clock: it was written by hand)",
			"instance", f.Instance, "host", f.Host, "last_seen", f.LastSeen)
	}
	if len(seen) == 0 {
		return nil, future, nil
	}
	after := state.Clone()
	inPlan := make(map[string]bool, len(plan.Steps))
	for _, st := range plan.Steps {
		m := projector.Migration{ID: st.ID, Checksum: st.checksum(), AppVersion: r.cfg.appVersion, Transactional: true}
		if st.Migration != nil {
			m.Compatible, m.Transactional = st.Migration.Compatible, st.Migration.Transactional()
		}
		after.Applied[st.ID] = m
		inPlan[st.ID] = true
	}
	var broken []Broken
	for _, rs := range seen {
		if !rs.Stored {
			continue // its manifest was never stored: it cannot be judged
		}
		v := judge(rs.Release, after)
		if v.Decision != policy.Refuse {
			continue
		}
		var ids []string
		for _, u := range v.Unknown {
			if inPlan[u.ID] && !u.Allowed {
				ids = append(ids, u.ID)
			}
		}
		if before != nil {
			if judge(rs.Release, *before).Decision == policy.Refuse {
				continue // it refuses now, whatever the plan does
			}
			for _, m := range v.Mismatched {
				if inPlan[m.ID] {
					ids = append(ids, m.ID)
				}
			}
		}
		if len(ids) == 0 {
			continue // it refuses already, whatever this plan does
		}
		slices.SortFunc(ids, projector.CompareIDs)
		broken = append(broken, Broken{
			AppVersion: rs.AppVersion, Manifest: rs.Digest, Policy: rs.Policy, Instances: rs.Instances, Hosts: rs.Hosts,
			LastSeen: rs.LastSeen, LastHost: rs.LastHost, Migrations: ids, Verdict: v,
		})
	}
	if len(broken) == 0 {
		return nil, future, nil
	}
	if !r.cfg.allowBreaking {
		now := at
		if now.IsZero() {
			now = time.Now()
		}
		return broken, future, &BreakingError{Window: r.cfg.fleetWindow, Now: now, Releases: broken, Deploy: r.cfg.appVersion}
	}
	for i := range plan.Steps {
		st := &plan.Steps[i]
		for _, b := range broken {
			if slices.Contains(b.Migrations, st.ID) {
				st.AllowedBreaking = append(st.AllowedBreaking, projector.BrokenRelease{
					Release: b.AppVersion, Policy: b.Policy, Instances: b.Instances, LastSeen: b.LastSeen.UTC(), LastHost: b.LastHost,
				})
			}
		}
	}
	for _, b := range broken {
		r.cfg.logger.Warn("applying migrations that make a running release refuse (allowed)", "release", b.AppVersion, "instances", b.Instances, "migrations", b.Migrations)
	}
	return broken, future, nil
}
