package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/projector"
)

// Sighting is one check-in: an instance of a release decided whether it may
// run against this database. Sightings live beside the event log, not in
// its hash chain: they are observations, not schema transitions. A
// sighting is recorded through the ledger's check_in function, at the
// server's clock: its time is never the caller's to choose.
type Sighting struct {
	Instance   string           // e.g. the pod name; one row per instance
	Host       string           //
	Release    string           // the release manifest's digest
	AppVersion string           //
	Policy     string           //
	SetDigest  projector.Digest // the release's applied-set digest
	Decision   string           // the instance's verdict: run, migrate or refuse
	// Heartbeat is how often the instance checks in again while it runs
	// (0: it checked in once). Up's guard counts a beating instance as
	// running until it misses three beats.
	Heartbeat time.Duration
}

// Release is a release manifest as stored on the release's first check-in.
type Release struct {
	Digest     string
	AppVersion string
	Policy     string
	SetDigest  projector.Digest
	Manifest   []byte   // the manifest's JSON, as written (its digest is checked over these bytes)
	IDs        []string // its migrations, in order
	Checksums  []string // their checksums
}

// CheckInError is a check-in that could not be recorded: a role without
// the grants, a ledger without the sightings table, a sighting row locked
// by another session. It never changes a verdict.
type CheckInError struct {
	Schema string
	Err    error
}

func (e *CheckInError) Error() string {
	return fmt.Sprintf("check-in not recorded in ledger schema %q: %v", e.Schema, e.Err)
}

func (e *CheckInError) Unwrap() error { return e.Err }

func (s *Store) checkInSQL() string {
	return `SELECT ` + s.q + `.check_in($1, $2, $3, $4, $5, $6, $7, $8, $9)`
}

func (s *Store) sightingArgs(sg Sighting, always bool) []any {
	return []any{sg.Instance, sg.Release, sg.AppVersion, sg.Policy, sg.SetDigest[:], sg.Decision, sg.Host, sg.Heartbeat.Milliseconds(), always}
}

// HeadCheckIn reads the head as Head does and, in the same round trip, one
// more statement records sg — only if the head's applied-set digest is
// sg.SetDigest with nothing in doubt: the case in which the caller's
// verdict is the one it knew before it asked (sg.Decision). recorded
// reports whether it was; knownRelease whether the release's manifest is
// stored already. A failure to record is a *CheckInError in ciErr and
// never touches the head's answer. It takes no lock the migrator holds:
// it never waits behind a running migration, and waits for a locked
// sighting row only briefly (the check_in function's own lock timeout).
func (s *Store) HeadCheckIn(ctx context.Context, sg Sighting) (head Head, recorded, knownRelease bool, ciErr error, err error) {
	b := &pgx.Batch{}
	var r headRow
	var headErr error
	var known *bool
	b.Queue(s.sql.head).Query(func(rows pgx.Rows) error {
		headErr = scanHead(rows, &r)
		return nil
	})
	b.Queue(s.checkInSQL(), s.sightingArgs(sg, false)...).QueryRow(func(row pgx.Row) error {
		ciErr = row.Scan(&known)
		return nil
	})
	closeErr := s.db.SendBatch(ctx, b).Close()
	switch {
	case headErr == nil && closeErr != nil && ciErr == nil:
		ciErr = closeErr
	case headErr == nil && closeErr != nil:
	case headErr == nil:
	case errors.Is(headErr, pgx.ErrNoRows):
		return Head{}, false, false, nil, &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
	default:
		return Head{}, false, false, nil, s.mapErr(headErr)
	}
	switch {
	case ciErr != nil:
		ciErr = &CheckInError{Schema: s.schema, Err: ciErr}
	case known != nil: // nil: not the fast path, nothing recorded
		recorded, knownRelease = true, *known
	}
	r.lastLoaded = true
	head, err = s.check(&r)
	return head, recorded, knownRelease, ciErr, err
}

// CheckIn records sg whatever the head says: the verdict was decided from
// the applied set. It reports whether the release's manifest is stored
// already. Its error is a *CheckInError.
func (s *Store) CheckIn(ctx context.Context, sg Sighting) (knownRelease bool, err error) {
	var known *bool
	if err := s.db.QueryRow(ctx, s.checkInSQL(), s.sightingArgs(sg, true)...).Scan(&known); err != nil {
		return false, &CheckInError{Schema: s.schema, Err: err}
	}
	return known != nil && *known, nil
}

// PutRelease stores a release's manifest, once per digest, through the
// ledger's put_release function: it stores only a manifest whose bytes
// hash to the digest they end with, and takes the ids and checksums from
// it (r's other fields are not sent).
func (s *Store) PutRelease(ctx context.Context, r Release) error {
	var digest string
	if err := s.db.QueryRow(ctx, `SELECT `+s.q+`.put_release($1)`, string(r.Manifest)).Scan(&digest); err != nil {
		return &CheckInError{Schema: s.schema, Err: err}
	}
	if r.Digest != "" && digest != r.Digest {
		return &CheckInError{Schema: s.schema, Err: fmt.Errorf("the manifest stored is %s, not %s", digest, r.Digest)}
	}
	return nil
}

// ReleaseSeen is one release seen within a window: its manifest and who
// runs it.
type ReleaseSeen struct {
	Release
	Instances int       `json:"instances"`
	Hosts     []string  `json:"hosts"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	LastHost  string    `json:"last_host"` // the host of the newest sighting
	Decisions []string  `json:"decisions"` // the verdicts its instances reported, distinct
	Stored    bool      `json:"stored"`    // its manifest is stored (IDs and Checksums hold it)
}

// SeenQuery says which sightings ReleasesSeen counts.
type SeenQuery struct {
	Window time.Duration
	Now    time.Time // zero: the server's clock
	// Running: count a sighting that has a heartbeat until it misses
	// three beats (however long ago its instance started, and however
	// short the window), one without for Window — up's guard, asking who
	// runs now. Otherwise every sighting within Window (ledger fleet).
	Running bool
}

// futureSlack is how far after now a sighting may be dated and still
// count (clocks compared across hosts).
const futureSlack = time.Minute

// ReleasesSeen lists the releases with a sighting that counts (SeenQuery),
// newest sighting first. A release whose manifest was never stored has no
// IDs (its instances could not store it). A sighting dated more than a
// minute after now cannot have been recorded by check_in: it is left out,
// and counted in future. The read waits for locks no longer than the
// store's lock timeout (WithLockTimeout).
func (s *Store) ReleasesSeen(ctx context.Context, q SeenQuery) (seen []ReleaseSeen, future []FutureSighting, err error) {
	var at *time.Time
	if !q.Now.IsZero() {
		at = &q.Now
	}
	b := &pgx.Batch{}
	if s.lockTimeout > 0 {
		b.Queue("SELECT set_config('lock_timeout', $1, true)", strconv.FormatInt(s.lockTimeout.Milliseconds(), 10)+"ms")
	}
	b.Queue(`SELECT instance, host, last_seen FROM `+s.q+`.sightings
 WHERE last_seen > coalesce($1::timestamptz, now()) + $2::interval ORDER BY instance LIMIT 100`, at, futureSlack).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var f FutureSighting
			if err := rows.Scan(&f.Instance, &f.Host, &f.LastSeen); err != nil {
				return err
			}
			future = append(future, f)
		}
		return rows.Err()
	})
	b.Queue(releasesSeenSQL(s.q), at, q.Window, futureSlack, q.Running).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var rs ReleaseSeen
			var setDigest []byte
			if err := rows.Scan(&rs.Digest, &rs.AppVersion, &rs.Policy, &setDigest, &rs.Instances, &rs.Hosts,
				&rs.FirstSeen, &rs.LastSeen, &rs.LastHost, &rs.Decisions, &rs.IDs, &rs.Checksums, &rs.Stored); err != nil {
				return err
			}
			var err error
			if rs.SetDigest, err = projector.ParseDigest(setDigest); err != nil {
				return fmt.Errorf("sighting of release %s: %w", rs.AppVersion, err)
			}
			seen = append(seen, rs)
		}
		return rows.Err()
	})
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, s.mapErr(err)
	}
	return seen, future, nil
}

// FutureSighting is a sighting dated after now: written by someone with
// the table's privileges, not by check_in. It counts for nothing.
type FutureSighting struct {
	Instance string    `json:"instance"`
	Host     string    `json:"host"`
	LastSeen time.Time `json:"last_seen"`
}

func releasesSeenSQL(q string) string {
	// Two steps of hash aggregation (by release and host, then by
	// release): no per-release sort of every sighting.
	return `WITH per_host AS (
    SELECT release, host, decision, app_version, policy, set_digest, count(*) AS n,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
      FROM ` + q + `.sightings, (SELECT coalesce($1::timestamptz, now()) AS now) c
     WHERE last_seen <= c.now + $3::interval
       AND CASE WHEN $4::bool AND heartbeat_ms > 0
                THEN last_seen >= c.now - 3 * heartbeat_ms * interval '1 millisecond'
                ELSE last_seen >= c.now - $2::interval END
     GROUP BY release, host, decision, app_version, policy, set_digest),
seen AS (
    SELECT release, min(app_version) AS app_version, min(policy) AS policy, (array_agg(set_digest))[1] AS set_digest,
           sum(n)::int AS instances, array_agg(DISTINCT host COLLATE "C") AS hosts, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, (array_agg(host ORDER BY last_seen DESC))[1] AS last_host,
           array_agg(DISTINCT decision COLLATE "C") AS decisions
      FROM per_host GROUP BY release)
SELECT seen.release, coalesce(r.app_version, seen.app_version), coalesce(r.policy, seen.policy), coalesce(r.set_digest, seen.set_digest), seen.instances, seen.hosts,
       seen.first_seen, seen.last_seen, seen.last_host, seen.decisions,
       coalesce(r.migration_ids, '{}'), coalesce(r.checksums, '{}'), r.digest IS NOT NULL
  FROM seen LEFT JOIN ` + q + `.releases r ON r.digest = seen.release
 ORDER BY seen.last_seen DESC, seen.app_version`
}
