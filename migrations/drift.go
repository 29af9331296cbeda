package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// WithRefuseDrift makes up and down stop (after recording schema.drifted)
// when the schema differs from the last recorded snapshot, instead of
// warning and going on.
func WithRefuseDrift() Option {
	return func(c *config) error { c.refuseDrift = true; return nil }
}

// SchemaReport is what a run found about the schema before it migrated.
type SchemaReport struct {
	// Drift lists the objects that appeared, disappeared or changed outside
	// the migrations since the last recorded snapshot (one line each).
	Drift []string `json:"drift,omitempty"`
	// Drifted is true when the catalog differed from the last snapshot;
	// DriftRecorded when this run recorded schema.drifted (false when the
	// same drift was recorded before).
	Drifted       bool `json:"drifted,omitempty"`
	DriftRecorded bool `json:"drift_recorded,omitempty"`
	// Stale: migrations ran after the last snapshot (one killed before its
	// end-of-run fingerprint): not drift; this run records a fresh one.
	Stale bool `json:"stale,omitempty"`
	// Fingerprint is the snapshot the run recorded at its end ("" if none).
	Fingerprint string `json:"fingerprint,omitempty"`
}

// DriftError is a run refused because the schema drifted (WithRefuseDrift).
type DriftError struct {
	Recorded string   // the last recorded snapshot's fingerprint
	Found    string   // the catalog's
	Changes  []string // one line per object
}

func (e *DriftError) Error() string {
	msg := fmt.Sprintf("the schema changed outside the migrations since snapshot %.12s (now %.12s); refused before migrating, the drift is recorded as schema.drifted", e.Recorded, e.Found)
	if len(e.Changes) > 0 {
		msg += ":\n  " + strings.Join(e.Changes, "\n  ")
	}
	return msg
}

// schemaCheck is the catalog as a run found it before it migrated.
type schemaCheck struct {
	snap   catalog.Snapshot
	record bool // record a snapshot at the end even if nothing migrates
	report SchemaReport
}

// needsSchemaCheck says whether a run with nothing to do must still look at
// the schema: to refuse drift (WithRefuseDrift), or to record a snapshot the
// ledger lacks or holds stale (events came after it: a run killed before
// its end). Otherwise a run that changes nothing reads no catalog; drift
// made meanwhile is found — and recorded, with its diff against the same
// snapshot — by the next run that migrates, before it migrates, or shown by
// SchemaStatus.
func (s *session) needsSchemaCheck() bool {
	fp := s.app.State().Fingerprint
	return s.set.refuseDrift || fp == nil || fp.Seq != s.app.Head().Seq
}

// beforeRun compares the catalog with the last recorded snapshot before a
// run migrates. A difference after migrations ran past that snapshot is a
// stale snapshot; otherwise it is drift, recorded once as schema.drifted.
//
// It first asks the server for the catalog's stamp and the fingerprint
// recorded for it (one query, nothing deparsed): when that is the last
// snapshot's fingerprint the schema is unchanged and nothing more is read.
// Otherwise — a changed catalog, or a stamp never seen — it reads every
// object, exactly as without the stamp.
func (s *session) beforeRun(ctx context.Context) (c schemaCheck, err error) {
	state := s.app.State()
	fp := state.Fingerprint
	if fp == nil {
		// Nothing recorded to compare with: a ledger that holds migrations
		// gets its first snapshot now; one that holds none gets it at the
		// end of the run, if it migrates (a fresh database: nothing to read).
		c.record = len(state.Applied) > 0 || len(state.InDoubt) > 0
		c.report.Stale = c.record
		if c.record {
			c.snap, err = s.readCatalog(ctx)
		}
		return c, err
	}
	stamp, known, err := s.store.CatalogFingerprint(ctx)
	if err != nil {
		return c, err
	}
	if known == fp.Value {
		c.snap = catalog.Snapshot{Fingerprint: known}
		return c, nil
	}
	// The stamp was read before the objects: it may stand for them
	// (catalog.ReadStamped says why).
	snap, err := readSchemaOf(ctx, s.conn, s.store.Schema(), s.set.tenant)
	if err != nil {
		return c, err
	}
	s.putStamp(ctx, stamp, snap)
	c.snap = snap
	if fp.Value == snap.Fingerprint {
		return c, nil
	}
	since, err := s.store.SchemaSince(ctx, fp.Seq)
	if err != nil {
		return c, err
	}
	c.record = true
	if since.MovedAt > 0 {
		c.report.Stale = true
		return c, nil
	}
	c.report.Drifted = true
	drifted := projector.Drifted{Fingerprint: snap.Fingerprint, Objects: len(snap.Objects), Recorded: fp.Value, RecordedSeq: fp.Seq, Refused: s.set.refuseDrift}
	if old, err := s.store.Snapshot(ctx, fp.Value); err == nil {
		drifted.Changes = catalog.Lines(catalog.Diff(old, snap))
	} else if errors.Is(err, ledger.ErrNoSnapshot) {
		drifted.Unreadable = "the snapshot at seq " + fmt.Sprint(fp.Seq) + " was recorded without its objects (by an older binary)"
	} else {
		return c, err
	}
	c.report.Drift = drifted.Changes
	s.set.logger.Warn("the schema changed outside the migrations", "recorded", fp.Value, "found", snap.Fingerprint, "changes", len(drifted.Changes))
	if since.LastDrift != snap.Fingerprint {
		if err := s.store.PutSnapshot(ctx, snap); err != nil {
			return c, err
		}
		ev, err := projector.NewEvent(projector.TypeSchemaDrifted, drifted)
		if err != nil {
			return c, err
		}
		if err := s.record(ctx, ev); err != nil {
			return c, fmt.Errorf("record the schema drift: %w", err)
		}
		c.report.DriftRecorded = true
	}
	if s.set.refuseDrift {
		return c, &DriftError{Recorded: fp.Value, Found: snap.Fingerprint, Changes: drifted.Changes}
	}
	return c, nil
}

// readCatalog reads every object of the schema, and records the catalog's
// stamp with their fingerprint so that the next run that finds the same
// stamp need not read them. Recording the stamp is a cache: a role that
// may not write it (or a ledger older than format 4) only loses the
// shortcut.
func (s *session) readCatalog(ctx context.Context) (catalog.Snapshot, error) {
	snap, stamp, err := s.readStamped(ctx)
	if err != nil {
		return snap, err
	}
	s.putStamp(ctx, stamp, snap)
	return snap, nil
}

// readStamped reads every object of the schema and the catalog's stamp,
// recording neither.
func (s *session) readStamped(ctx context.Context) (catalog.Snapshot, string, error) {
	read := catalog.ReadStamped
	if s.set.tenant != "" {
		read = func(ctx context.Context, db catalog.Querier, exclude string) (catalog.Snapshot, string, error) {
			return catalog.ReadSchemaStamped(ctx, db, exclude, s.set.tenant)
		}
	}
	return read(ctx, s.conn, s.store.Schema())
}

// putStamp records a stamp read before the catalog was read in full.
func (s *session) putStamp(ctx context.Context, stamp string, snap catalog.Snapshot) {
	s.set.logger.Debug("read the catalog in full", "objects", len(snap.Objects), "fingerprint", snap.Fingerprint)
	if stamp == "" {
		return
	}
	if err := s.store.PutCatalogStamp(ctx, stamp, snap.Fingerprint); err != nil {
		s.set.logger.Debug("the catalog's stamp was not recorded", "err", err)
	}
}

// afterRun records the schema's snapshot and fingerprint once at the end
// of a run that migrated, or that found the last snapshot stale or drifted.
func (s *session) afterRun(ctx context.Context, c *schemaCheck, migrated bool) error {
	if !migrated && !c.record {
		return nil
	}
	snap, stamp := c.snap, ""
	if migrated {
		var err error
		if snap, stamp, err = s.readStamped(ctx); err != nil {
			return fmt.Errorf("fingerprint the schema: %w", err)
		}
		s.set.logger.Debug("read the catalog in full", "objects", len(snap.Objects), "fingerprint", snap.Fingerprint)
	}
	// The snapshot and the stamp in one round trip, whose commit the
	// event's flushes (PutSnapshotStamped).
	stampErr, err := s.store.PutSnapshotStamped(ctx, snap, stamp)
	if err != nil {
		return err
	}
	if stampErr != nil {
		s.set.logger.Debug("the catalog's stamp was not recorded", "err", stampErr)
	}
	ev, err := projector.NewEvent(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: snap.Fingerprint, Objects: len(snap.Objects)})
	if err != nil {
		return err
	}
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	c.report.Fingerprint = snap.Fingerprint
	return nil
}

// AcceptDrift records the schema as it is now as the ledger's snapshot,
// with the operator's reason: a change made by hand that is meant to stay.
// It takes the migration lock. A schema equal to the last snapshot records
// nothing (accepted is false).
func (r *Runner) AcceptDrift(ctx context.Context, reason string) (accepted projector.DriftAccepted, err error) {
	if strings.TrimSpace(reason) == "" {
		return accepted, errors.New("accept the drift: give a reason: it is recorded for the auditors")
	}
	if err := r.initToRecord(ctx); err != nil {
		return accepted, err
	}
	err = r.locked(ctx, lockWriteChecked, func(s *session) error {
		snap, err := s.readCatalog(ctx)
		if err != nil {
			return err
		}
		accepted = projector.DriftAccepted{Fingerprint: snap.Fingerprint, Objects: len(snap.Objects), Reason: reason}
		if fp := s.app.State().Fingerprint; fp != nil {
			if fp.Value == snap.Fingerprint {
				accepted = projector.DriftAccepted{}
				return nil
			}
			accepted.Recorded = fp.Value
			if old, err := s.store.Snapshot(ctx, fp.Value); err == nil {
				accepted.Changes = catalog.Lines(catalog.Diff(old, snap))
			} else if !errors.Is(err, ledger.ErrNoSnapshot) {
				return err
			}
		}
		if err := s.store.PutSnapshot(ctx, snap); err != nil {
			return err
		}
		ev, err := projector.NewEvent(projector.TypeSchemaDriftAccepted, accepted)
		if err != nil {
			return err
		}
		return s.record(ctx, ev)
	})
	if err != nil {
		return projector.DriftAccepted{}, err
	}
	return accepted, nil
}

// SchemaStatus is the live schema compared with the last recorded snapshot.
type SchemaStatus struct {
	Recorded *projector.Fingerprint `json:"recorded,omitempty"` // nil: no snapshot recorded yet
	Found    string                 `json:"found"`              // the catalog's fingerprint now
	Objects  int                    `json:"objects"`
	// Changes lists what differs from the recorded snapshot, one object each.
	Changes []catalog.Change `json:"-"`
	Lines   []string         `json:"changes,omitempty"`
	// Stale: migrations ran after the snapshot (StaleSince is the newest
	// such event), so a difference is not drift; the next up records a
	// fresh snapshot.
	Stale      bool  `json:"stale,omitempty"`
	StaleSince int64 `json:"stale_since,omitempty"`
	// Unlisted: the recorded snapshot was stored without its objects (by
	// an older binary), so a difference can be seen but not listed.
	Unlisted bool `json:"unlisted,omitempty"`
	// Invalid lists the indexes PostgreSQL does not use (a failed or
	// interrupted CREATE INDEX CONCURRENTLY left them).
	Invalid []catalog.Object `json:"invalid_indexes,omitempty"`
}

// Drifted reports whether the schema changed outside the migrations.
func (st SchemaStatus) Drifted() bool {
	return st.Recorded != nil && st.Found != st.Recorded.Value && !st.Stale
}

// SchemaStatus reads the catalog and compares it with the last recorded
// snapshot. It takes no lock and writes nothing.
func (r *Runner) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	var st SchemaStatus
	state, _, err := r.store.State(ctx)
	if err != nil {
		return st, err
	}
	snap, err := readSchemaOf(ctx, r.pool, r.store.Schema(), r.cfg.tenant)
	if err != nil {
		return st, err
	}
	st.Found, st.Objects, st.Invalid = snap.Fingerprint, len(snap.Objects), snap.InvalidIndexes()
	st.Recorded = state.Fingerprint
	if st.Recorded == nil || st.Recorded.Value == snap.Fingerprint {
		return st, nil
	}
	since, err := r.store.SchemaSince(ctx, st.Recorded.Seq)
	if err != nil {
		return st, err
	}
	st.Stale, st.StaleSince = since.MovedAt > 0, since.MovedAt
	old, err := r.store.Snapshot(ctx, st.Recorded.Value)
	switch {
	case errors.Is(err, ledger.ErrNoSnapshot):
		st.Unlisted = true
	case err != nil:
		return st, err
	default:
		st.Changes = catalog.Diff(old, snap)
		st.Lines = catalog.Lines(st.Changes)
	}
	return st, nil
}

// readSchemaOf reads the schema the ledger fingerprints: the database's
// (but the ledger's own schema), or only the tenant's.
func readSchemaOf(ctx context.Context, db catalog.Querier, ledgerSchema, tenant string) (catalog.Snapshot, error) {
	if tenant != "" {
		return catalog.ReadSchema(ctx, db, ledgerSchema, tenant)
	}
	return catalog.Read(ctx, db, ledgerSchema)
}
