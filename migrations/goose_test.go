package migrations

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/projector"
)

const gooseUsers = `-- a goose migration
-- +goose Up
CREATE TABLE users (id int);
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RETURN 1;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION f();
DROP TABLE users;
`

func TestLoadGooseFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_users.sql":   {Data: []byte(gooseUsers)},
		"00002_idx.sql":     {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON users (id);\n-- +goose Down\nDROP INDEX CONCURRENTLY i;\n")},
		"00003_up_only.sql": {Data: []byte("-- +goose Up\r\nALTER TABLE users ADD COLUMN x int;\r\n-- +goose Down\r\n")},
		"notes.sql":         {Data: []byte("SELECT 1;\n")},
		"00004_plain.sql":   {Data: []byte("SELECT 1; -- no goose annotation: not a migration\n")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.IDs(), []string{"00001_users", "00002_idx", "00003_up_only"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("IDs = %q, want %q", got, want)
	}
	users, _ := set.Lookup("00001_users")
	if users.Checksum != sum(gooseUsers) || users.Up.File != "00001_users.sql" || users.Down == nil || users.Down.File != "00001_users.sql" || !users.Transactional() {
		t.Errorf("00001_users = %+v", users)
	}
	if len(users.Up.Statements) != 2 || users.Up.Statements[0].Line != 3 || users.Up.Statements[1].Line != 5 {
		t.Errorf("up statements = %+v", users.Up.Statements)
	}
	if len(users.Down.Statements) != 2 || users.Down.Statements[0].Line != 13 || strings.Contains(users.Down.Text, "CREATE TABLE") {
		t.Errorf("down statements = %+v, down = %q", users.Down.Statements, users.Down.Text)
	}
	idx, _ := set.Lookup("00002_idx")
	if idx.Transactional() || idx.Down == nil || !idx.Down.NoTransaction {
		t.Errorf("00002_idx: NO TRANSACTION not honoured: %+v", idx)
	}
	upOnly, _ := set.Lookup("00003_up_only")
	if upOnly.Down == nil || !upOnly.Down.Empty() {
		t.Errorf("an empty -- +goose Down section is an explicit no-op down: %+v", upOnly)
	}
	// The startup check's fast path agrees with Load.
	known, err := Checksums(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 3 || known[0].ID != "00001_users" || known[0].Checksum != users.Checksum {
		t.Errorf("Checksums = %+v", known)
	}
}

func TestLoadGooseProblems(t *testing.T) {
	cases := []struct{ file, want string }{
		{"-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (x);\n", "00001_x.sql:2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block"},
		{"-- +goose Down\nDROP TABLE t;\n-- +goose Up\nCREATE TABLE t ();\n", "00001_x.sql:1: -- +goose Down before -- +goose Up"},
		{"-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE t ();\n", "00001_x.sql:2: -- +goose StatementBegin without -- +goose StatementEnd"},
		{"-- +goose Up\n-- +goose ENVSUBST ON\nCREATE TABLE ${LEDGER_TEST_UNSET?must be set} ();\n", "00001_x.sql:3: -- +goose ENVSUBST ON: $LEDGER_TEST_UNSET: must be set"},
		{"-- +goose Up\n-- +goose ENVSUBST ON\nCREATE FUNCTION f() RETURNS int AS 'SELECT $1' LANGUAGE sql;\n", "00001_x.sql:3: -- +goose ENVSUBST ON: a variable name must start with a letter"},
		{"-- +goose Up\n-- +goose ENVSUBST MAYBE\nSELECT 1;\n", "00001_x.sql:2: -- +goose ENVSUBST MAYBE: goose knows ENVSUBST ON and ENVSUBST OFF only"},
		{"-- +goose Up\n-- +goose Down\nDROP TABLE t;\n", "00001_x.sql: the -- +goose Up section holds no SQL statement"},
	}
	for _, c := range cases {
		_, err := Load(fstest.MapFS{"00001_x.sql": {Data: []byte(c.file)}})
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.file, err, c.want)
		}
	}
}

// Other tools' no-transaction markers in a golang-migrate-style directory:
// Mattermost's morph marker and goose's.
func TestNoTransactionSynonyms(t *testing.T) {
	fsys := fstest.MapFS{
		"000118_create_index_poststats.up.sql": {Data: []byte("-- morph:nontransactional\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_poststats_userid ON poststats(userid)\n")},
		"000119_idx.up.sql":                    {Data: []byte("-- +goose NO TRANSACTION\nCREATE INDEX CONCURRENTLY i ON t (x);\n")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range set.Migrations {
		if m.Transactional() {
			t.Errorf("%s: the no-transaction marker was not honoured", m.ID)
		}
	}
}

// Issue 25, item 4: goose reads -- +goose NO TRANSACTION wherever it is
// (Hatchet's 20250417150604_v1_0_15.sql has it on lines 2 and 8, the second
// after -- +goose Down), for the whole file, up and down.
func TestGooseNoTransactionAnywhere(t *testing.T) {
	hatchet := "-- +goose Up\n-- +goose NO TRANSACTION\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_a ON a (x);\n\n" +
		"-- +goose Down\n-- +goose NO TRANSACTION\n\nDROP INDEX CONCURRENTLY IF EXISTS ix_a;\n"
	afterSQL := "-- +goose Up\nCREATE INDEX CONCURRENTLY ix_b ON b (x);\n-- +goose NO TRANSACTION\n-- +goose Down\nDROP INDEX CONCURRENTLY ix_b;\n"
	set, err := Load(fstest.MapFS{
		"20250417150604_v1_0_15.sql": {Data: []byte(hatchet)},
		"20250417150605_after.sql":   {Data: []byte(afterSQL)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range set.Migrations {
		if m.Transactional() || m.Down == nil || !m.Down.NoTransaction {
			t.Errorf("%s: up transactional %v, down %+v: NO TRANSACTION holds for the whole file", m.ID, m.Transactional(), m.Down)
		}
		// The down SQL recorded with the migration keeps its mode.
		rec, err := recordedScript("recorded", m.Down.Text)
		if err != nil || !rec.NoTransaction {
			t.Errorf("%s: the recorded down %q is not no-transaction (%v)", m.ID, m.Down.Text, err)
		}
	}
	m, _ := set.Lookup("20250417150604_v1_0_15")
	if len(m.Up.Statements) != 1 || m.Up.Statements[0].Line != 3 || len(m.Down.Statements) != 1 || m.Down.Statements[0].Line != 8 {
		t.Errorf("statements at the file's lines: up %+v, down %+v", m.Up.Statements, m.Down.Statements)
	}
}

// Issue 25, item 5: an empty -- +goose Down section, or one holding only
// comments (Hatchet's "-- intentionally blank" inside StatementBegin/End),
// is an explicit no-op down, as in goose: down --to 0 plans it.
func TestGooseEmptyDownIsNoOp(t *testing.T) {
	set, err := Load(fstest.MapFS{
		"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a ();\n-- +goose Down\n")},
		"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b ();\n-- +goose Down\n-- +goose StatementBegin\n-- intentionally blank\n-- +goose StatementEnd\n")},
		"00003_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c ();\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	state := projector.NewState()
	for _, m := range set.Migrations {
		state.Applied[m.ID] = projector.Migration{ID: m.ID, Checksum: m.Checksum, Seq: int64(len(state.Applied) + 1)}
	}
	_, err = set.Plan(state, Target{Direction: DirDown, ID: "0"})
	var pe *PlanError
	if !errors.As(err, &pe) || len(pe.Reasons) != 1 || !strings.Contains(pe.Reasons[0], "00003_c has no down: its file has no -- +goose Down section") {
		t.Fatalf("plan: %v; want only 00003_c refused, in goose's words", err)
	}
	delete(state.Applied, "00003_c")
	plan, err := set.Plan(state, Target{Direction: DirDown, ID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.IDs(); !reflect.DeepEqual(got, []string{"00002_b", "00001_a"}) {
		t.Errorf("down --to 0 plans %v", got)
	}
	for _, st := range plan.Steps {
		if st.Script == nil || !st.Script.Empty() {
			t.Errorf("%s: down script %+v, want an empty one", st.ID, st.Script)
		}
	}
}

// Issue 25, item 6: -- +goose ENVSUBST ON expands variables as goose does
// (mfridman/interpolate), up to ENVSUBST OFF; the checksum is over the
// file as written.
func TestGooseEnvsubst(t *testing.T) {
	file := "-- +goose Up\n-- +goose ENVSUBST ON\nCREATE TABLE ${TABLE} (id int, $COL text, d text DEFAULT '${MISSING:-dflt}', e text DEFAULT '${EMPTY-x}');\n" +
		"-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$$$ SELECT 1 $$$$ LANGUAGE sql;\n-- +goose StatementEnd\n" +
		"-- +goose ENVSUBST OFF\nCREATE FUNCTION g() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql;\n" +
		"-- +goose Down\n-- +goose ENVSUBST ON\nDROP TABLE ${TABLE};\n"
	env := map[string]string{"TABLE": "orders", "COL": "note", "EMPTY": ""}
	set, err := Load(fstest.MapFS{"00001_env.sql": {Data: []byte(file)}}, WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	if err != nil {
		t.Fatal(err)
	}
	m := set.Migrations[0]
	want := []string{
		"CREATE TABLE orders (id int, note text, d text DEFAULT 'dflt', e text DEFAULT '')",
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
		"CREATE FUNCTION g() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql",
	}
	var got []string
	for _, st := range m.Up.Statements {
		got = append(got, st.Text)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("up statements:\n%q\nwant\n%q", got, want)
	}
	if m.Down == nil || len(m.Down.Statements) != 1 || m.Down.Statements[0].Text != "DROP TABLE orders" {
		t.Errorf("down = %+v", m.Down)
	}
	if m.Checksum != sum(file) {
		t.Errorf("checksum %s, want sha256 of the file as written", m.Checksum)
	}
}

// Issue 25, item 2: invalid UTF-8 is a load error with file:line, found
// before anything runs (PostgreSQL would reject it only when it runs).
func TestLoadInvalidUTF8(t *testing.T) {
	for name, data := range map[string]string{
		"0001_latin1.up.sql": "CREATE TABLE t (x text);\nINSERT INTO t VALUES ('caf\xe9');\n",
		"00001_goose.sql":    "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT '\xff';\n",
	} {
		_, err := Load(fstest.MapFS{name: {Data: []byte(data)}})
		var fe *FileError
		if !errors.As(err, &fe) || fe.Line != strings.Count(data[:strings.IndexAny(data, "\xe9\xff")], "\n")+1 || !strings.Contains(fe.Msg, "invalid UTF-8") {
			t.Errorf("%s: got %v, want an invalid UTF-8 error at its line", name, err)
		}
	}
}
