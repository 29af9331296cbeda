package adopt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/adopt"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
)

func loadSet(t *testing.T) *migrations.Set {
	t.Helper()
	set, err := migrations.Load(fstest.MapFS{
		"0001_users.up.sql":  {Data: []byte("CREATE TABLE users (id int);\n")},
		"0002_orders.up.sql": {Data: []byte("CREATE TABLE orders (id int);\n")},
		"0003_items.up.sql":  {Data: []byte("CREATE TABLE items (id int);\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Adopters started at once record the history exactly once: the others
// find it in the ledger and record nothing. The tool's table is untouched.
func TestAdoptConcurrentOnce(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 4)
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (2, false)`); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t)
	const n = 4
	var wg sync.WaitGroup
	reps := make([]adopt.Report, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "golang-migrate"})
		}()
	}
	wg.Wait()
	recorded := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("adopter %d: %v", i, errs[i])
		}
		if reps[i].Recorded() {
			recorded++
			if len(reps[i].Adopted) != 2 || reps[i].Adopted[1].ID != "0002_orders" {
				t.Errorf("adopted = %+v", reps[i].Adopted)
			}
		} else if len(reps[i].AlreadyRecorded) != 2 {
			t.Errorf("adopter %d recorded nothing but found %v already recorded", i, reps[i].AlreadyRecorded)
		}
	}
	if recorded != 1 {
		t.Fatalf("%d adopters recorded, want exactly 1", recorded)
	}
	var baselined, applied int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type = 'schema.baselined'), count(*) FILTER (WHERE type = 'migration.applied') FROM ledger.events`).Scan(&baselined, &applied); err != nil {
		t.Fatal(err)
	}
	if baselined != 1 || applied != 2 {
		t.Errorf("events: %d schema.baselined, %d migration.applied; want 1 and 2", baselined, applied)
	}
	var version int64
	var dirty bool
	if err := pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil || version != 2 || dirty {
		t.Errorf("schema_migrations changed: %d %v %v", version, dirty, err)
	}
}

// A dry run and a refused adopt leave the database as they found it: not
// even the ledger schema is created, so up still sees the other tool.
func TestAdoptDryRunAndRefusalChangeNothing(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (7, true)`); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t)
	_, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "goose"})
	var unmapped *adopt.UnmappedError
	if !errors.As(err, &unmapped) || len(unmapped.Report.Unmapped) != 1 || unmapped.Report.Unmapped[0].Version != "7" {
		t.Fatalf("got %v, want version 7 unmapped", err)
	}
	rep, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "goose", AllowUnmapped: true, Options: adopt.Options{DryRun: true}})
	if err != nil || len(rep.Adopted) != 1 || rep.Adopted[0].ID != "0001_users" {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regnamespace('ledger') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("the ledger schema exists after a refusal and a dry run (%v)", err)
	}
	r, err := migrations.NewRunner(pool, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); !errors.Is(err, migrations.ErrForeignHistory) {
		t.Fatalf("up after a refused adopt: %v, want ErrForeignHistory", err)
	}
}
