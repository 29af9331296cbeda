package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/projector"
)

// PutSnapshot stores a schema snapshot under its fingerprint; a snapshot
// already stored is left as it is (the same fingerprint is the same
// content).
func (s *Store) PutSnapshot(ctx context.Context, snap catalog.Snapshot) error {
	objects, err := snapshotJSON(snap)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, s.sql.putSnapshot, snap.Fingerprint, objects, len(snap.Objects))
	if err != nil {
		return fmt.Errorf("store the schema snapshot %.12s: %w", snap.Fingerprint, s.mapErr(err))
	}
	return nil
}

// PutSnapshotStamped is PutSnapshot and PutCatalogStamp (stamp "": none)
// in one round trip and one transaction, for a run that records the
// snapshot's schema.fingerprinted event right after, on the same
// connection, outside any transaction: the end of every run that migrated.
//
// That transaction commits without waiting for the disk
// (synchronous_commit off, for it alone): the event's commit, which does
// wait, flushes the WAL up to itself and so this transaction's commit
// too. The event is never durable without its snapshot; a server that
// stops before the event commits may lose a snapshot no event names (the
// next run reads the catalog again) and a stamp, which is a cache. Two
// flushes fewer of the three at a run's end: on a disk where one costs a
// millisecond or more, a fresh up's end costs a third of what it did.
//
// A stamp the role may not record (a role granted the ledger's tables one
// by one) must not cost the snapshot: on any failure the snapshot is
// stored alone, as PutSnapshot does, and the stamp's error is returned as
// stampErr. Inside a caller's transaction, where a failed statement
// would abort it, the two are stored as PutSnapshot and PutCatalogStamp
// store them, and the transaction commits as its caller says.
func (s *Store) PutSnapshotStamped(ctx context.Context, snap catalog.Snapshot, stamp string) (stampErr, err error) {
	if inTransaction(s.db) {
		if err := s.PutSnapshot(ctx, snap); err != nil {
			return nil, err
		}
		if stamp != "" {
			stampErr = s.PutCatalogStamp(ctx, stamp, snap.Fingerprint)
		}
		return stampErr, nil
	}
	objects, err := snapshotJSON(snap)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	// One Sync: the batch is one implicit transaction, and the setting
	// is its own.
	b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
	b.Queue(s.sql.putSnapshot, snap.Fingerprint, objects, len(snap.Objects))
	if stamp != "" {
		b.Queue(s.sql.putStamp, stamp, snap.Fingerprint)
	}
	if batchErr := s.db.SendBatch(ctx, b).Close(); batchErr != nil {
		if err := s.PutSnapshot(ctx, snap); err != nil {
			return nil, err
		}
		if stamp == "" {
			return nil, nil
		}
		return fmt.Errorf("record the catalog's stamp %.12s: %w", stamp, s.mapErr(batchErr)), nil
	}
	return nil, nil
}

// snapshotJSON is how a snapshot's objects are stored: an array of
// [kind, name, definition].
func snapshotJSON(snap catalog.Snapshot) (string, error) {
	objects := make([][3]string, len(snap.Objects))
	for i, o := range snap.Objects {
		objects[i] = [3]string{o.Kind, o.Name, o.Def}
	}
	b, err := json.Marshal(objects)
	return string(b), err
}

// ErrNoSnapshot means no snapshot is stored under a fingerprint: it was
// recorded by a binary that kept only the fingerprint.
var ErrNoSnapshot = errors.New("no snapshot stored for this fingerprint")

// Snapshot reads the snapshot stored under fingerprint and checks that its
// objects still hash to it.
func (s *Store) Snapshot(ctx context.Context, fingerprint string) (catalog.Snapshot, error) {
	var raw []byte
	err := s.db.QueryRow(ctx, "SELECT objects FROM "+s.q+".snapshots WHERE fingerprint = $1", fingerprint).Scan(&raw)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "42P01":
		return catalog.Snapshot{}, fmt.Errorf("snapshot %.12s: %w", fingerprint, ErrNoSnapshot)
	case err != nil:
		return catalog.Snapshot{}, s.mapErr(err)
	}
	var objects [][3]string
	if err := json.Unmarshal(raw, &objects); err != nil {
		return catalog.Snapshot{}, fmt.Errorf("snapshot %.12s: %w", fingerprint, err)
	}
	snap := catalog.Snapshot{Fingerprint: fingerprint, Objects: make([]catalog.Object, len(objects))}
	for i, o := range objects {
		snap.Objects[i] = catalog.Object{Kind: o[0], Name: o[1], Def: o[2]}
	}
	if err := snap.Verify(); err != nil {
		return catalog.Snapshot{}, fmt.Errorf("the stored %w", err)
	}
	return snap, nil
}

// schemaMoving are the events after which the catalog may differ from the
// snapshot recorded before them without anyone having drifted: a
// migration ran (or may have run part way).
var schemaMoving = []string{
	projector.TypeMigrationApplied, projector.TypeMigrationReverted, projector.TypeMigrationStarted,
	projector.TypeMigrationFailed, projector.TypeMigrationResolved, projector.TypeSchemaBaselined,
}

// SchemaSince is what the ledger recorded about the schema after a seq.
type SchemaSince struct {
	// MovedAt is the newest event after the seq that may have changed the
	// schema through the migrations (0: none): the snapshot recorded at
	// the seq is stale, not drifted.
	MovedAt int64
	// LastDrift is the fingerprint of the newest schema.drifted after the
	// seq ("" if none): a drift already recorded is not recorded again.
	LastDrift string
}

// SchemaSince reads what happened to the schema after seq.
func (s *Store) SchemaSince(ctx context.Context, seq int64) (SchemaSince, error) {
	var out SchemaSince
	var moved *int64
	var drift *string
	err := s.db.QueryRow(ctx, `SELECT (SELECT max(seq) FROM `+s.q+`.events WHERE seq > $1 AND type = ANY($2)),
		(SELECT payload->>'fingerprint' FROM `+s.q+`.events WHERE seq > $1 AND type = $3 ORDER BY seq DESC LIMIT 1)`,
		seq, schemaMoving, projector.TypeSchemaDrifted).Scan(&moved, &drift)
	if err != nil {
		return out, s.mapErr(err)
	}
	if moved != nil {
		out.MovedAt = *moved
	}
	if drift != nil {
		out.LastDrift = *drift
	}
	return out, nil
}

// CatalogFingerprint reads the catalog's stamp (catalog.StampSQL) and, in
// the same query, the fingerprint recorded for it (PutCatalogStamp): one
// round trip that says what the schema's fingerprint is without reading
// its objects. fingerprint is "" when the stamp was never recorded (or the
// ledger predates format 4): then only catalog.Read can say.
func (s *Store) CatalogFingerprint(ctx context.Context) (stamp, fingerprint string, err error) {
	var fp *string
	err = s.db.QueryRow(ctx, "SELECT s.stamp, (SELECT c.fingerprint FROM "+s.q+".catalog_stamps c WHERE c.stamp = s.stamp) FROM ("+catalog.StampSQL+") s(stamp)").
		Scan(&stamp, &fp)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42501") {
		// A ledger of format 3 or older (no stamps yet), or a role granted
		// the ledger's tables one by one before they included this one:
		// the stamps are a shortcut, so read the catalog instead.
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read the catalog's stamp: %w", s.mapErr(err))
	}
	if fp != nil {
		fingerprint = *fp
	}
	return stamp, fingerprint, nil
}

// PutCatalogStamp records that the catalog with this stamp has this
// fingerprint (both from catalog.ReadStamped). A stamp already recorded
// is left as it is: it can only ever stand for one fingerprint.
func (s *Store) PutCatalogStamp(ctx context.Context, stamp, fingerprint string) error {
	_, err := s.db.Exec(ctx, s.sql.putStamp, stamp, fingerprint)
	if err != nil {
		return fmt.Errorf("record the catalog's stamp %.12s: %w", stamp, s.mapErr(err))
	}
	return nil
}
