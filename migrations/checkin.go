package migrations

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

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
	// Heartbeat is how often the checker checks in again while the
	// program runs, so that up's guard sees a release that started long
	// ago (0: DefaultHeartbeat; NoHeartbeat: check in only when Check is
	// called, as a program that exits after its check does). Up's guard
	// counts a beating instance as running until it misses three beats.
	Heartbeat time.Duration
}

// DefaultHeartbeat is how often a checker with a check-in checks in again.
const DefaultHeartbeat = time.Minute

// MaxHeartbeat is the longest heartbeat a check-in may record: a sighting
// counts for three beats, and never for days.
const MaxHeartbeat = time.Hour

// NoHeartbeat (CheckIn.Heartbeat) checks in only when Check is called.
const NoHeartbeat time.Duration = -1

// heartbeat is how often the instance beats: 0 for none.
func (ci *CheckIn) heartbeat() time.Duration {
	switch {
	case ci.Heartbeat < 0:
		return 0
	case ci.Heartbeat == 0:
		return DefaultHeartbeat
	}
	return ci.Heartbeat
}

// WithCheckIn makes Check record a sighting after deciding: this release
// (its manifest, stored once per release), its verdict, the instance and
// host, and the time. Sightings live beside the event log, not in it; they
// tell `ledger fleet` who runs against the database and let up refuse a
// plan that would make a running release refuse. When the ledger holds
// exactly this release's migrations, the sighting rides in the same round
// trip as the head read, as one more statement; otherwise it is one
// statement after the verdict. A check-in that cannot be recorded (a role
// without the grants, a database without a ledger yet, a sighting locked
// by another session: the wait is short) never changes the verdict: it is
// logged once as a warning (WithLogger) and returned by
// Checker.CheckInError.
//
// The heartbeat: after the first check, a checker over a *pgxpool.Pool
// checks in again every CheckIn.Heartbeat (DefaultHeartbeat, a minute) in
// a goroutine of its own, until the pool is closed or Checker.Close is
// called — one head read and one sighting in one round trip when the
// ledger still holds exactly the release, bounded by the heartbeat (at
// most 10 seconds), never touching the caller's verdict or blocking it.
// Up's guard counts a beating instance as running for as long as it beats
// (until it misses three beats), however long ago it started; one that
// checks in only at start (NoHeartbeat, or over a single connection)
// counts for the fleet window. The role needs only EXECUTE on the
// ledger's check_in and put_release functions (README: Check-ins).
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
		if ci.Heartbeat > MaxHeartbeat {
			return fmt.Errorf("WithCheckIn: heartbeat %s: at most %s", ci.Heartbeat, MaxHeartbeat)
		}
		c.checkIn = &ci
		return nil
	}
}

// WithClock replaces the database server's clock as "now" for up's guard
// and the fleet — which sightings count as recent — so a test can move
// time instead of sleeping. Sightings and events are always timed by the
// server's clock.
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
	beat    sync.Once   // the heartbeat started
	stop    chan struct{}
	stopped sync.Once
	beats   atomic.Int64 // heartbeats recorded
}

// beats is how often this checker's heartbeat runs: 0 when it has none —
// NoHeartbeat, or a single connection, which a goroutine must not share.
// The sighting records it, so that up's guard knows how long to count it.
func (c *Checker) beats() time.Duration {
	if _, ok := c.db.(*pgxpool.Pool); !ok {
		return 0
	}
	return c.cfg.checkIn.heartbeat()
}

// startHeartbeat starts the heartbeat, once, if the checker has one.
func (c *Checker) startHeartbeat() {
	st := &c.checkIns
	every := c.beats()
	pool, ok := c.db.(*pgxpool.Pool)
	if every <= 0 || !ok {
		return
	}
	st.beat.Do(func() {
		st.stop = make(chan struct{})
		go c.heartbeat(pool, every, st.stop)
	})
}

// heartbeat checks in every interval until stop closes or the pool does.
// A beat that fails is logged (once, as any check-in) and the next one
// tries again: a database that is down for a while is no reason to stop.
func (c *Checker) heartbeat(pool *pgxpool.Pool, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(every, 10*time.Second))
		conn, err := pool.Acquire(ctx)
		if errors.Is(err, puddle.ErrClosedPool) {
			cancel()
			return
		}
		if err == nil {
			conn.Release()
			if _, err := c.checkAndCheckIn(ctx); err == nil && c.CheckInError() == nil {
				c.checkIns.beats.Add(1)
			}
		}
		cancel()
	}
}

// Close stops the checker's heartbeat (WithCheckIn), if it runs. Closing
// the pool stops it too. The checker can still check.
func (c *Checker) Close() {
	st := &c.checkIns
	st.stopped.Do(func() {
		st.beat.Do(func() {}) // no heartbeat starts after Close
		if st.stop != nil {
			close(st.stop)
		}
	})
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
	return ledger.Sighting{
		Instance: c.cfg.checkIn.Instance, Host: c.cfg.checkIn.Host,
		Release: r.Digest, AppVersion: r.AppVersion, Policy: r.Policy, SetDigest: c.digest, Decision: d.String(),
		Heartbeat: c.beats(),
	}
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
	c.startHeartbeat()
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
