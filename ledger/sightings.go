package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/projector"
)

// Sighting is one check-in: an instance of a release decided whether it may
// run against this database. Sightings live beside the event log, not in
// its hash chain: they are observations, not schema transitions.
type Sighting struct {
	Instance   string           // e.g. the pod name; one row per instance
	Host       string           //
	Release    string           // the release manifest's digest
	AppVersion string           //
	Policy     string           //
	SetDigest  projector.Digest // the release's applied-set digest
	Decision   string           // the instance's verdict: run, migrate or refuse
	At         time.Time        // zero: the server's clock
}

// Release is a release manifest as stored on the release's first check-in.
type Release struct {
	Digest     string
	AppVersion string
	Policy     string
	SetDigest  projector.Digest
	Manifest   []byte   // the manifest's JSON
	IDs        []string // its migrations, in order
	Checksums  []string // their checksums
}

// CheckInError is a check-in that could not be recorded: a role without
// the grants, a ledger without the sightings table. It never changes a
// verdict.
type CheckInError struct {
	Schema string
	Err    error
}

func (e *CheckInError) Error() string {
	return fmt.Sprintf("check-in not recorded in ledger schema %q: %v", e.Schema, e.Err)
}

func (e *CheckInError) Unwrap() error { return e.Err }

func (s *Store) upsertSightingSQL() string {
	return `INSERT INTO ` + s.q + `.sightings AS s
    (instance, release, app_version, policy, set_digest, decision, host, db_user, first_seen, last_seen)
SELECT $1, $2, $3, $4, $5, $6, $7, current_user, t, t
  FROM (SELECT coalesce($8::timestamptz, now()) AS t,
               -- An observation, not a schema change: its commit need not
               -- wait for the WAL flush (a crash may lose the last moment's
               -- sightings; the next check records them again).
               set_config('synchronous_commit', 'off', true)) now
 WHERE $9::bool OR EXISTS (SELECT FROM ` + s.q + `.head WHERE digest = $5 AND in_doubt = 0)
ON CONFLICT (instance) DO UPDATE SET
    release = excluded.release, app_version = excluded.app_version, policy = excluded.policy,
    set_digest = excluded.set_digest, decision = excluded.decision, host = excluded.host,
    db_user = excluded.db_user, last_seen = excluded.last_seen, checks = s.checks + 1
RETURNING EXISTS (SELECT FROM ` + s.q + `.releases WHERE digest = $2)`
}

func (s *Store) sightingArgs(sg Sighting, always bool) []any {
	var at *time.Time
	if !sg.At.IsZero() {
		at = &sg.At
	}
	return []any{sg.Instance, sg.Release, sg.AppVersion, sg.Policy, sg.SetDigest[:], sg.Decision, sg.Host, at, always}
}

// HeadCheckIn reads the head as Head does and, in the same round trip, one
// more statement records sg — only if the head's applied-set digest is
// sg.SetDigest with nothing in doubt: the case in which the caller's
// verdict is the one it knew before it asked (sg.Decision). recorded
// reports whether it was; knownRelease whether the release's manifest is
// stored already. A failure to record is a *CheckInError in ciErr and
// never touches the head's answer. It takes no lock the migrator holds:
// it never waits behind a running migration.
func (s *Store) HeadCheckIn(ctx context.Context, sg Sighting) (head Head, recorded, knownRelease bool, ciErr error, err error) {
	b := &pgx.Batch{}
	var r headRow
	var headErr error
	b.Queue(s.sql.head).Query(func(rows pgx.Rows) error {
		headErr = scanHead(rows, &r)
		return nil
	})
	b.Queue(s.upsertSightingSQL(), s.sightingArgs(sg, false)...).QueryRow(func(row pgx.Row) error {
		ciErr = row.Scan(&knownRelease)
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
	if errors.Is(ciErr, pgx.ErrNoRows) {
		ciErr = nil // not the fast path: nothing recorded
	} else if ciErr == nil {
		recorded = true
	} else {
		ciErr = &CheckInError{Schema: s.schema, Err: ciErr}
	}
	r.lastLoaded = true
	head, err = s.check(&r)
	return head, recorded, knownRelease, ciErr, err
}

// CheckIn records sg whatever the head says: the verdict was decided from
// the applied set. It reports whether the release's manifest is stored
// already. Its error is a *CheckInError.
func (s *Store) CheckIn(ctx context.Context, sg Sighting) (knownRelease bool, err error) {
	if err := s.db.QueryRow(ctx, s.upsertSightingSQL(), s.sightingArgs(sg, true)...).Scan(&knownRelease); err != nil {
		return false, &CheckInError{Schema: s.schema, Err: err}
	}
	return knownRelease, nil
}

// PutRelease stores a release's manifest, once per digest.
func (s *Store) PutRelease(ctx context.Context, r Release) error {
	_, err := s.db.Exec(ctx, `INSERT INTO `+s.q+`.releases (digest, app_version, policy, set_digest, manifest, migration_ids, checksums)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING`,
		r.Digest, r.AppVersion, r.Policy, r.SetDigest[:], string(r.Manifest), r.IDs, r.Checksums)
	if err != nil {
		return &CheckInError{Schema: s.schema, Err: err}
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

// ReleasesSeen lists the releases with a sighting at or after now-window
// (now zero: the server's clock), newest sighting first. A release whose
// manifest was never stored has no IDs (its instances could not store it).
func (s *Store) ReleasesSeen(ctx context.Context, window time.Duration, now time.Time) ([]ReleaseSeen, error) {
	var at *time.Time
	if !now.IsZero() {
		at = &now
	}
	// Two steps of hash aggregation (by release and host, then by
	// release): no per-release sort of every sighting.
	rows, err := s.db.Query(ctx, `WITH per_host AS (
    SELECT release, host, decision, app_version, policy, set_digest, count(*) AS n,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
      FROM `+s.q+`.sightings
     WHERE last_seen >= coalesce($1::timestamptz, now()) - $2::interval
     GROUP BY release, host, decision, app_version, policy, set_digest),
seen AS (
    SELECT release, min(app_version) AS app_version, min(policy) AS policy, (array_agg(set_digest))[1] AS set_digest,
           sum(n)::int AS instances, array_agg(DISTINCT host COLLATE "C") AS hosts, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, (array_agg(host ORDER BY last_seen DESC))[1] AS last_host,
           array_agg(DISTINCT decision COLLATE "C") AS decisions
      FROM per_host GROUP BY release)
SELECT seen.release, seen.app_version, seen.policy, seen.set_digest, seen.instances, seen.hosts,
       seen.first_seen, seen.last_seen, seen.last_host, seen.decisions,
       coalesce(r.migration_ids, '{}'), coalesce(r.checksums, '{}'), r.digest IS NOT NULL
  FROM seen LEFT JOIN `+s.q+`.releases r ON r.digest = seen.release
 ORDER BY seen.last_seen DESC, seen.app_version`, at, window)
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer rows.Close()
	var out []ReleaseSeen
	for rows.Next() {
		var rs ReleaseSeen
		var setDigest []byte
		if err := rows.Scan(&rs.Digest, &rs.AppVersion, &rs.Policy, &setDigest, &rs.Instances, &rs.Hosts,
			&rs.FirstSeen, &rs.LastSeen, &rs.LastHost, &rs.Decisions, &rs.IDs, &rs.Checksums, &rs.Stored); err != nil {
			return nil, err
		}
		if rs.SetDigest, err = projector.ParseDigest(setDigest); err != nil {
			return nil, fmt.Errorf("sighting of release %s: %w", rs.AppVersion, err)
		}
		out = append(out, rs)
	}
	return out, s.mapErr(rows.Err())
}
