package migrations

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
)

// DefaultFleetWindow is how recent a sighting must be for up's guard to
// count its release as running.
const DefaultFleetWindow = 15 * time.Minute

// CheckIn says who checks in (WithCheckIn).
type CheckIn struct {
	// Instance identifies this running copy of the release: one sighting
	// row per instance, updated by each of its checks. Default: the host
	// name (a pod's name in Kubernetes); set it when several instances
	// share a host.
	Instance string
	// Host is recorded with the sighting. Default: WithHost's, or the host name.
	Host string
}

// WithCheckIn makes Check record a sighting after deciding: this release
// (its manifest, stored once per release), its verdict, the instance and
// host, and the time. Sightings live beside the event log, not in it; they
// tell `ledger fleet` who runs against the database and let up refuse a
// plan that would make a running release refuse. When the ledger holds
// exactly this release's migrations, the sighting rides in the same round
// trip as the head read, as one more statement; otherwise it is one
// statement after the verdict. A check-in that cannot be recorded (a role
// without the grants, a database without a ledger yet) never changes the
// verdict: it is logged once as a warning (WithLogger) and returned by
// Checker.CheckInError.
func WithCheckIn(ci CheckIn) Option {
	return func(c *config) error {
		if ci.Instance == "" || ci.Host == "" {
			host, err := os.Hostname()
			if err != nil && (ci.Instance == "" || ci.Host == "" && c.host == "") {
				return fmt.Errorf("WithCheckIn: no instance given and no host name: %w", err)
			}
			if ci.Instance == "" {
				ci.Instance = host
			}
			if ci.Host == "" {
				ci.Host = host
				if c.host != "" {
					ci.Host = c.host
				}
			}
		}
		c.checkIn = &ci
		return nil
	}
}

// WithClock replaces the database server's clock for what the ledger times
// beside its events — sightings and up's fleet window — so a test can move
// time instead of sleeping. Event times are always the server's.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("WithClock: nil clock")
		}
		c.clock = now
		return nil
	}
}

// checkInResult is what one check's check-in came to.
type checkInResult struct {
	recorded bool
	known    bool // the release's manifest is stored already
	err      error
}

// checkInState is a checker's check-in bookkeeping.
type checkInState struct {
	once    sync.Once
	release ledger.Release
	warned  atomic.Bool
	last    atomic.Pointer[error]
	stored  atomic.Bool // this checker stored or found its release
}

// readHead reads the head; with a check-in it also records the sighting
// the fast path's verdict will be, in the same round trip.
func (c *Checker) readHead(ctx context.Context, rec *checkInResult) (ledger.Head, error) {
	if rec == nil {
		return c.store.Head(ctx)
	}
	head, recorded, known, ciErr, err := c.store.HeadCheckIn(ctx, c.sighting(c.run.Decision))
	rec.recorded, rec.known, rec.err = recorded, known, ciErr
	return head, err
}

// sighting is this checker's check-in with decision d.
func (c *Checker) sighting(d policy.Decision) ledger.Sighting {
	r := c.checkInRelease()
	sg := ledger.Sighting{
		Instance: c.cfg.checkIn.Instance, Host: c.cfg.checkIn.Host,
		Release: r.Digest, AppVersion: r.AppVersion, Policy: r.Policy, SetDigest: c.digest, Decision: d.String(),
	}
	if c.cfg.clock != nil {
		sg.At = c.cfg.clock()
	}
	return sg
}

// checkInRelease is the release this checker checks in as: its manifest.
func (c *Checker) checkInRelease() ledger.Release {
	st := &c.checkIns
	st.once.Do(func() {
		cfg := c.cfg
		if c.release != nil {
			h := c.release.header
			st.release = ledger.Release{Digest: h.Digest, AppVersion: h.AppVersion, Policy: h.Policy, SetDigest: h.SetDigest, Manifest: c.release.data}
			return
		}
		m := buildManifest(c.set, cfg.appVersion, cfg.policy)
		st.release = ledger.Release{Digest: m.Digest, AppVersion: m.AppVersion, Policy: m.Policy, SetDigest: m.SetDigest, Manifest: m.Marshal()}
		st.release.IDs, st.release.Checksums = idsAndChecksums(m)
	})
	return st.release
}

func idsAndChecksums(m Manifest) (ids, sums []string) {
	ids, sums = make([]string, len(m.Migrations)), make([]string, len(m.Migrations))
	for i, mig := range m.Migrations {
		ids[i], sums[i] = mig.ID, mig.Checksum
	}
	return ids, sums
}

// checkAndCheckIn is a check, and its check-in when WithCheckIn asks for one.
func (c *Checker) checkAndCheckIn(ctx context.Context) (policy.Verdict, error) {
	if c.cfg.checkIn == nil {
		return c.check(ctx, nil)
	}
	rec := &checkInResult{}
	v, err := c.check(ctx, rec)
	if err != nil {
		return v, err
	}
	if !rec.recorded && rec.err == nil {
		rec.known, rec.err = c.store.CheckIn(ctx, c.sighting(v.Decision))
		rec.recorded = rec.err == nil
	}
	if rec.recorded && !rec.known && !c.checkIns.stored.Load() {
		rec.err = c.storeRelease(ctx)
	}
	if rec.recorded && rec.err == nil {
		c.checkIns.stored.Store(true)
	}
	c.checkIns.last.Store(&rec.err)
	if rec.err != nil && !c.checkIns.warned.Swap(true) {
		c.cfg.logger.Warn("check-in not recorded; the verdict stands", "err", rec.err)
	}
	return v, nil
}

// storeRelease stores the release's manifest on its first check-in.
func (c *Checker) storeRelease(ctx context.Context) error {
	r := c.checkInRelease()
	if c.release != nil {
		if err := c.loadRelease(); err != nil {
			return err
		}
		r.IDs, r.Checksums = idsAndChecksums(c.release.full)
	}
	return c.store.PutRelease(ctx, r)
}

// CheckInError is the error of the last check's check-in (nil: recorded,
// or no check-in asked for). It never changed that check's verdict.
func (c *Checker) CheckInError() error {
	if p := c.checkIns.last.Load(); p != nil {
		return *p
	}
	return nil
}
