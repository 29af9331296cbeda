package ledger_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
)

// PutSnapshotStamped stores the snapshot and the stamp in one transaction
// of their own, whose synchronous_commit off stays with it (the session's
// next transaction, the event's, waits for the disk as before); a stamp
// the role may not record costs the snapshot nothing; inside a caller's
// transaction both are stored in it and its setting is left alone.
func TestPutSnapshotStamped(t *testing.T) {
	ctx := context.Background()
	st, pool := newStore(t, 2)
	pgtest.Exec(t, pool.Config().ConnString(), "CREATE TABLE public.t (id int PRIMARY KEY)")
	snap, stamp, err := catalog.ReadStamped(ctx, pool, st.Schema())
	if err != nil || stamp == "" {
		t.Fatalf("read the catalog: %q %v", stamp, err)
	}
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	synchronousCommit := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) string {
		t.Helper()
		var v string
		if err := q.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	stored := func(fp string) {
		t.Helper()
		got, err := st.Snapshot(ctx, fp)
		if err != nil || got.Fingerprint != fp || !slices.Equal(got.Objects, snap.Objects) {
			t.Fatalf("snapshot %.12s: %+v %v", fp, got, err)
		}
	}

	stampErr, err := st.On(conn).PutSnapshotStamped(ctx, snap, stamp)
	if err != nil || stampErr != nil {
		t.Fatalf("put: %v, stamp: %v", err, stampErr)
	}
	stored(snap.Fingerprint)
	if got, fp, err := st.CatalogFingerprint(ctx); err != nil || got != stamp || fp != snap.Fingerprint {
		t.Fatalf("the stamp %q stands for %q (%v), want %q for %q", got, fp, err, stamp, snap.Fingerprint)
	}
	if v := synchronousCommit(conn); v != "on" {
		t.Fatalf("synchronous_commit after the put: %q, want the session's own (on)", v)
	}
	// Again: both already there, nothing to do, no error.
	if stampErr, err := st.On(conn).PutSnapshotStamped(ctx, snap, stamp); err != nil || stampErr != nil {
		t.Fatalf("put again: %v, stamp: %v", err, stampErr)
	}

	// A role that may store snapshots but not stamps.
	url := pool.Config().ConnString()
	role := pgtest.NewRole(t, url, "snaponly_")
	pgtest.Exec(t, url, "GRANT USAGE ON SCHEMA ledger TO "+role+"; GRANT SELECT, INSERT ON ledger.snapshots TO "+role)
	other := catalog.NewSnapshot([]catalog.Object{{Kind: catalog.KindTable, Name: "public.other"}})
	roleConn, err := pgx.Connect(ctx, pgtest.AsUser(t, url, role))
	if err != nil {
		t.Fatal(err)
	}
	defer roleConn.Close(ctx)
	stampErr, err = st.On(roleConn).PutSnapshotStamped(ctx, other, "0123456789abcdef0123456789abcdef")
	if err != nil || stampErr == nil {
		t.Fatalf("a role refused the stamp: err %v, stamp err %v; want the snapshot stored and the stamp's error", err, stampErr)
	}
	if got, err := st.Snapshot(ctx, other.Fingerprint); err != nil || got.Fingerprint != other.Fingerprint {
		t.Fatalf("the snapshot of a role refused the stamp: %+v %v", got, err)
	}

	// In a caller's transaction: stored there, committed with it, its
	// setting untouched.
	third := catalog.NewSnapshot([]catalog.Object{{Kind: catalog.KindTable, Name: "public.third"}})
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if stampErr, err := st.On(conn).PutSnapshotStamped(ctx, third, "fedcba9876543210fedcba9876543210"); err != nil || stampErr != nil {
		t.Fatalf("put in a transaction: %v, stamp: %v", err, stampErr)
	}
	if v := synchronousCommit(conn); v != "on" {
		t.Fatalf("synchronous_commit in the caller's transaction: %q, want on", v)
	}
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Snapshot(ctx, third.Fingerprint); err == nil {
		t.Fatal("the snapshot stored in a rolled-back transaction is there")
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM ledger.catalog_stamps WHERE stamp = 'fedcba9876543210fedcba9876543210'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the stamp stored in a rolled-back transaction: %d rows, %v", n, err)
	}
}
