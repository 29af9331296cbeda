package migrations

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
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
	if upOnly.Down != nil {
		t.Errorf("an empty -- +goose Down section is no down: %+v", upOnly)
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
		{"-- +goose Up\n-- +goose ENVSUBST ON\nCREATE TABLE ${T} ();\n", "00001_x.sql:2: -- +goose ENVSUBST ON: ledger does not substitute"},
		{"-- +goose Up\nCREATE TABLE t ();\n-- +goose NO TRANSACTION\n", "00001_x.sql:3: -- +goose NO TRANSACTION after SQL"},
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
