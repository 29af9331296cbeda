package adopt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/schema-ledger/ledger/adopt"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
)

// Issue 25, item 8: golang-migrate at version 5 with a directory holding
// 0001–0003 (the README: one version covers every migration up to it):
// 0001–0003 are applied, 4–5 are named as unmapped; refused, or recorded
// with AllowUnmapped.
func TestAdoptGolangMigrateBeyondTheSet(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (5, false)`); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t)
	_, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "golang-migrate"})
	var unmapped *adopt.UnmappedError
	if !errors.As(err, &unmapped) || len(unmapped.Report.Unmapped) != 1 || unmapped.Report.Unmapped[0].Version != "4–5" ||
		len(unmapped.Report.Adopted) != 3 || !strings.Contains(err.Error(), "up to 3 only") {
		t.Fatalf("got %v, want 4–5 unmapped and 0001–0003 mapped", err)
	}
	rep, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "golang-migrate", AllowUnmapped: true})
	if err != nil || len(rep.Adopted) != 3 || rep.Adopted[2].ID != "0003_items" {
		t.Fatalf("with AllowUnmapped: %+v, %v", rep, err)
	}
}

// Issue 25, item 9 (library): adopted goose migrations keep goose's tstamp
// as when they were applied.
func TestSourceTimesKeepGooseTstamp(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
		INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (0, true, '2019-12-31 00:00:00'), (1, true, '2020-01-02 03:04:05.5'), (2, true, '2021-06-07 08:09:10')`); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t)
	if _, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "goose"}); err != nil {
		t.Fatal(err)
	}
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	times, err := migrations.SourceTimes(ctx, store, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		"0001_users":  time.Date(2020, 1, 2, 3, 4, 5, 500e6, time.UTC),
		"0002_orders": time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC),
	}
	if len(times) != 2 {
		t.Fatalf("times = %+v", times)
	}
	for id, w := range want {
		if got := times[id]; !got.AppliedAt.Equal(w) || got.From != "goose" {
			t.Errorf("%s: %+v, want %v", id, got, w)
		}
	}
}

const flywayHistory = `CREATE TABLE flyway_schema_history (installed_rank int NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
	type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,
	installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL)`

// Issue 25, item 10: a Flyway directory adopted from Flyway's history,
// by version (V1.1 is 1.1), with Flyway's checksums compared: a file
// changed since Flyway applied it refuses the adopt.
func TestAdoptFlywayComparesChecksums(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{
		"V1__users.sql":    "CREATE TABLE users (id int);\n",
		"V1.1__orders.sql": "CREATE TABLE orders (id int);\r\n",
		"V2__items.sql":    "CREATE TABLE items (id int);\n",
	}
	fsys := fstest.MapFS{}
	for n, d := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(d)}
	}
	set, err := migrations.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		checksum int32
		refused  bool
	}{
		{"as applied", migrations.FlywayChecksum([]byte(files["V1.1__orders.sql"])), false},
		{"changed since", 12345, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool, _ := pgtest.NewPool(t, 2)
			if _, err := pool.Exec(ctx, flywayHistory); err != nil {
				t.Fatal(err)
			}
			_, err := pool.Exec(ctx, `INSERT INTO flyway_schema_history VALUES
				(1, '1', 'users', 'SQL', 'V1__users.sql', $1, 'app', '2022-03-04 05:06:07', 4, true),
				(2, '1.1', 'orders', 'SQL', 'V1.1__orders.sql', $2, 'app', '2022-03-05 05:06:07', 4, true)`,
				migrations.FlywayChecksum([]byte(files["V1__users.sql"])), c.checksum)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := adopt.Adopt(ctx, pool, set, adopt.AdoptOptions{From: "flyway"})
			var cerr *adopt.ChecksumError
			switch {
			case c.refused && (!errors.As(err, &cerr) || len(cerr.Mismatched) != 1 || cerr.Mismatched[0].Version != "1.1"):
				t.Fatalf("got %v, want a checksum mismatch for 1.1", err)
			case !c.refused && (err != nil || len(rep.Adopted) != 2 || rep.Adopted[1].ID != "100010000_V1.1__orders" || len(rep.Pending) != 1):
				t.Fatalf("got %+v, %v", rep, err)
			}
		})
	}
}
