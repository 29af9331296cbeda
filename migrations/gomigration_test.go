package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// goSet is the shape of Hatchet's history at its first Go migration: SQL
// files, a Go data migration in the ledger's transaction between them, a
// no-transaction Go migration, and SQL after.
func goSet(t *testing.T, fail bool, checksum string) *migrations.Set {
	t.Helper()
	fsys := fstest.MapFS{
		"0001_users.up.sql":    {Data: []byte("CREATE TABLE users (id int PRIMARY KEY, email text);\nINSERT INTO users VALUES (1, 'A@X'), (2, 'B@Y');\n")},
		"0001_users.down.sql":  {Data: []byte("DROP TABLE users;\n")},
		"0004_emails.up.sql":   {Data: []byte("ALTER TABLE users ADD CONSTRAINT lower_email CHECK (email = lower(email));\n")},
		"0004_emails.down.sql": {Data: []byte("ALTER TABLE users DROP CONSTRAINT lower_email;\n")},
	}
	set, err := migrations.Load(fsys, migrations.WithGo(
		migrations.GoMigration{
			ID: "0002_lowercase_emails", Checksum: checksum,
			Up: func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, "SELECT id, email FROM users ORDER BY id")
				if err != nil {
					return err
				}
				type u struct {
					ID    int
					Email string
				}
				all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[u])
				if err != nil {
					return err
				}
				for _, x := range all {
					if _, err := tx.Exec(ctx, "UPDATE users SET email = $1 WHERE id = $2", strings.ToLower(x.Email), x.ID); err != nil {
						return err
					}
				}
				if fail {
					return errors.New("the data migration failed on purpose")
				}
				_, err = tx.Exec(ctx, "SET search_path = nowhere") // the session is reset before the record
				return err
			},
			Down: func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "UPDATE users SET email = upper(email)")
				return err
			},
		},
		migrations.GoMigration{
			ID: "0003_index", Checksum: "v1",
			UpNoTx: func(ctx context.Context, conn *pgx.Conn) error {
				_, err := conn.Exec(ctx, "CREATE INDEX CONCURRENTLY users_email ON users (email)")
				return err
			},
		},
	))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Issue 25, item 7: Go migrations registered beside the SQL files run in
// order, a transactional one in the transaction its migration.applied
// commits in, and are recorded (and reverted) like any migration, with
// the checksum their author controls.
func TestGoMigrations(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	set := goSet(t, false, "v1")
	if got := set.IDs(); strings.Join(got, " ") != "0001_users 0002_lowercase_emails 0003_index 0004_emails" {
		t.Fatalf("ids %v", got)
	}
	r := runner(t, pool, set)
	rep, err := r.Up(ctx, migrations.UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Done) != 4 {
		t.Fatalf("done %+v", rep.Done)
	}
	var emails string
	if err := pool.QueryRow(ctx, "SELECT string_agg(email, ',' ORDER BY id) FROM users").Scan(&emails); err != nil || emails != "a@x,b@y" {
		t.Fatalf("emails %q, %v", emails, err)
	}
	state, _, err := r.Store().State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := state.Applied["0002_lowercase_emails"]
	if m.Checksum != migrations.GoChecksum("0002_lowercase_emails", "v1") || !m.Transactional {
		t.Errorf("recorded %+v", m)
	}
	if ix := state.Applied["0003_index"]; ix.Transactional {
		t.Errorf("0003_index recorded as transactional")
	}
	verifyOK(t, r.Store())
	types := eventTypes(t, r.Store(), ledger.Filter{MigrationID: "0003_index"})
	if strings.Join(types, " ") != projector.TypeMigrationStarted+" 0003_index "+projector.TypeMigrationApplied+" 0003_index" {
		t.Errorf("0003_index events %v", types)
	}

	// Another author's checksum for an applied Go migration is a mismatch.
	check := runner(t, pool, goSet(t, false, "v2"))
	if _, err := check.Up(ctx, migrations.UpOptions{}); err == nil || !strings.Contains(err.Error(), "0002_lowercase_emails") {
		t.Errorf("up with a changed Go checksum: %v", err)
	}

	// Down: SQL, then the Go down in its transaction; 0003 has none.
	if _, err := r.Down(ctx, migrations.DownOptions{Target: "0003_index"}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Down(ctx, migrations.DownOptions{Target: "0"})
	var pe *migrations.PlanError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "0003_index has no down: it has no Down function") {
		t.Fatalf("down past a Go migration without Down: %v", err)
	}
}

// A Go migration that fails is rolled back with its transaction and
// recorded as failed, like a SQL one; the migrations before it stay.
func TestGoMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, goSet(t, true, "v1"))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.ID != "0002_lowercase_emails" || !merr.RolledBack || !merr.Recorded {
		t.Fatalf("got %v (%+v)", err, merr)
	}
	var emails string
	if err := pool.QueryRow(ctx, "SELECT string_agg(email, ',' ORDER BY id) FROM users").Scan(&emails); err != nil || emails != "A@X,B@Y" {
		t.Fatalf("emails %q, %v: the failed migration's updates were not rolled back", emails, err)
	}
	state, _, err := r.Store().State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := state.Failed["0002_lowercase_emails"]; !ok || len(state.Applied) != 1 {
		t.Errorf("state: applied %v, failed %v", state.Applied, state.Failed)
	}
	verifyOK(t, r.Store())
}

func TestGoMigrationProblems(t *testing.T) {
	noop := func(context.Context, pgx.Tx) error { return nil }
	cases := []struct {
		g    migrations.GoMigration
		want string
	}{
		{migrations.GoMigration{ID: "0001_a", Checksum: "v1"}, "no Up function"},
		{migrations.GoMigration{ID: "0001_a", Up: noop}, "no Checksum"},
		{migrations.GoMigration{ID: "a", Checksum: "v1", Up: noop}, "want <number>_<name>"},
		{migrations.GoMigration{ID: "0001_users", Checksum: "v1", Up: noop}, "id 0001_users is also 0001_users.up.sql"},
	}
	for _, c := range cases {
		_, err := migrations.Load(fstest.MapFS{"0001_users.up.sql": {Data: []byte("SELECT 1;")}}, migrations.WithGo(c.g))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.g.ID, err, c.want)
		}
	}
}
