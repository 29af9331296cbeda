package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
)

// BenchmarkSnapshot1000Tables is what a run adds at its end: read the
// catalog of a schema of 1,000 tables (each with a primary key, four
// columns, a default, a foreign key and an index: ~9,000 objects),
// fingerprint it and store the snapshot. Target: under 200 ms.
func BenchmarkSnapshot1000Tables(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(b, 2)
	st, err := ledger.New(pool)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Init(ctx); err != nil {
		b.Fatal(err)
	}
	n := scaled(1000)
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE t0 (id bigserial PRIMARY KEY);\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&ddl, `CREATE TABLE t%d (id bigserial PRIMARY KEY, parent bigint REFERENCES t%d (id),
			name text NOT NULL DEFAULT '', created timestamptz NOT NULL DEFAULT now());
			CREATE INDEX t%d_name ON t%d (name);`+"\n", i, i-1, i, i)
	}
	if _, err := pool.Exec(ctx, ddl.String()); err != nil {
		b.Fatal(err)
	}
	var objects int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		snap, err := catalog.Read(ctx, pool, st.Schema())
		if err != nil {
			b.Fatal(err)
		}
		if err := st.PutSnapshot(ctx, snap); err != nil {
			b.Fatal(err)
		}
		objects = len(snap.Objects)
		if i%2 == 1 {
			// Every other round, a schema not stored yet.
			b.StopTimer()
			if _, err := pool.Exec(ctx, fmt.Sprintf("ALTER TABLE t0 ADD COLUMN c%d int", i)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(objects), "objects")
}
