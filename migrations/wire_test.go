package migrations

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// readQuery reads each statement's result, stops at the failing one, and
// never waits for COPY data a migration cannot send.
func TestReadQuery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, _ := pgtest.NewPool(t, 1)
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	pc := c.Conn().PgConn()

	if err := sendQuery(ctx, pc, "SELECT 1, NULL::text; CREATE TEMP TABLE t (id int); SELECT 1/0; SELECT 2"); err != nil {
		t.Fatal(err)
	}
	results, err := readQuery(ctx, pc)
	var pgErr *pgconn.PgError
	if len(results) != 2 || string(results[0].Rows[0][0]) != "1" || results[0].Rows[0][1] != nil || !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("results %v, err %v", results, err)
	}

	if err := sendQuery(ctx, pc, "CREATE TEMP TABLE t (id int); COPY t FROM STDIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := readQuery(ctx, pc); err == nil || !strings.Contains(err.Error(), "cannot send COPY data") {
		t.Fatalf("COPY FROM STDIN: %v", err)
	}
	// The connection is in sync for the next query.
	if err := sendQuery(ctx, pc, "SELECT 3"); err != nil {
		t.Fatal(err)
	}
	if results, err := readQuery(ctx, pc); err != nil || string(results[0].Rows[0][0]) != "3" {
		t.Fatalf("after COPY: %v %v", results, err)
	}
}
