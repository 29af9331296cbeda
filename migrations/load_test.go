package migrations

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

//go:embed testdata/golangmigrate testdata/broken
var testdataFS embed.FS

func subFS(t *testing.T, dir string) fs.FS {
	t.Helper()
	sub, err := fs.Sub(testdataFS, dir)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkGolangMigrate asserts what the golang-migrate style directory loads to,
// whichever fs it comes from.
func checkGolangMigrate(t *testing.T, set *Set, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got, want := set.IDs(), []string{"1_init", "0002_orders", "3_orders_index", "0010_1.9.0_schema"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IDs = %q, want %q", got, want)
	}
	if got, want := set.Ignored, []string{"README.md", "old/", "seed.sql"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ignored = %q, want %q", got, want)
	}
	if len(set.Warnings) != 0 { // a comment-only down file is an explicit no-op down, not a problem
		t.Errorf("Warnings = %q, want none", set.Warnings)
	}

	init, ok := set.Lookup("1_init")
	if !ok {
		t.Fatal("Lookup(1_init) found nothing")
	}
	if init.Number != "1" || init.Name != "init" || filepath.Base(init.Up.File) != "1_init.up.sql" || init.Down == nil || filepath.Base(init.Down.File) != "1_init.down.sql" {
		t.Errorf("1_init = %+v", init)
	}
	if !init.Up.Wrapped || !init.Down.Wrapped || !init.Transactional() || init.Checksum != sum(init.Up.Text) || init.Up.Checksum != init.Checksum || init.Down.Checksum != sum(init.Down.Text) {
		t.Errorf("1_init: wrapped %v/%v transactional %v checksum %s", init.Up.Wrapped, init.Down.Wrapped, init.Transactional(), init.Checksum)
	}
	if strings.Contains(init.Up.Body, "BEGIN;") || strings.Contains(init.Up.Body, "COMMIT") || !strings.HasPrefix(init.Up.Body, "CREATE TABLE users") || !strings.HasSuffix(init.Up.Body, "$$;") {
		t.Errorf("1_init body = %q", init.Up.Body)
	}
	if len(init.Up.Statements) != 2 || init.Up.Statements[0].Line != 3 || init.Up.Statements[1].Line != 8 {
		t.Errorf("1_init statements = %+v, want 2 on lines 3 and 8", init.Up.Statements)
	}
	if got := init.Down.Statements; len(got) != 2 || got[0].Text != "DROP FUNCTION touch()" || got[0].Line != 2 || init.Down.Text[got[0].Offset:][:len(got[0].Text)] != got[0].Text {
		t.Errorf("1_init down statements = %+v", got)
	}

	orders, _ := set.Lookup("0002_orders")
	if orders.Compatible != ">=1.2.0 <2.0.0" || orders.Up.Wrapped || orders.Up.Body != orders.Up.Text {
		t.Errorf("0002_orders = %+v", orders)
	}
	idx, _ := set.Lookup("3_orders_index")
	if !idx.Up.NoTransaction || idx.Transactional() || !idx.Down.NoTransaction || len(idx.Up.Statements) != 2 || idx.Up.Statements[1].Line != 3 {
		t.Errorf("3_orders_index = %+v", idx)
	}
	schema, _ := set.Lookup("0010_1.9.0_schema")
	if schema.Number != "0010" || schema.Name != "1.9.0_schema" || schema.Down == nil || !schema.Down.Empty() { // its down holds only a comment: an explicit no-op
		t.Errorf("0010_1.9.0_schema = %+v", schema)
	}
	if _, ok := set.Lookup("0003_orders_index"); ok {
		t.Error("Lookup matched a different id with the same number")
	}
}

func TestLoadEmbedFS(t *testing.T) {
	set, err := Load(subFS(t, "testdata/golangmigrate"))
	checkGolangMigrate(t, set, err)
}

func TestLoadDirFS(t *testing.T) {
	set, err := Load(os.DirFS("testdata/golangmigrate"))
	checkGolangMigrate(t, set, err)
	set, err = LoadDir(filepath.Join("testdata", "golangmigrate"))
	checkGolangMigrate(t, set, err)
}

func TestLoadDirMissing(t *testing.T) {
	_, err := LoadDir("./no-such-dir")
	if !errors.Is(err, ErrNoDirectory) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNoDirectory and fs.ErrNotExist", err)
	}
	if want := "migrations directory ./no-such-dir does not exist"; err == nil || err.Error() != want || len(Fixes(err)) != 1 || Fixes(err)[0].Action != FixChooseDir {
		t.Errorf("err = %v, want %q", err, want)
	}
	_, err = LoadDir("testdata/golangmigrate/README.md")
	if !errors.Is(err, ErrNoDirectory) || !strings.Contains(err.Error(), "testdata/golangmigrate/README.md is a file, not a directory") {
		t.Errorf("err = %v", err)
	}
}

// TestLoadReportsEverything: one pass over a broken directory names every
// problem, each with its file (and directory) and line.
func TestLoadReportsEverything(t *testing.T) {
	_, err := LoadDir("testdata/broken")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"testdata/broken/0001_init.up.sql:2: COMMIT in a transactional migration would commit the runner's transaction early, leaving DDL without its ledger event",
		`testdata/broken/0002_index.up.sql:2: invalid compatibility constraint "not-a-version"`,
		"testdata/broken/0002_index.up.sql:5: CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
		"testdata/broken/0002_index.up.sql: migration number 2 is used by 2 different migrations (testdata/broken/0002_index.up.sql, testdata/broken/2_other.up.sql)",
		"testdata/broken/0003_meta.up.sql:1: psql meta-commands",
		"testdata/broken/0003_meta.up.sql:2: \"-- ledger:no-transaction\": directives belong in the header",
		"testdata/broken/0004_gone.down.sql: down file without an up file: there is no 0004_gone.up.sql",
		`testdata/broken/x_bad.up.sql: file name does not hold a migration id: migration id "x_bad"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q; got:\n%s", want, msg)
		}
	}
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FileError
		if !errors.As(e, &fe) || fe.File == "" {
			t.Errorf("%v is not a *FileError naming its file", e)
		}
		n++
	}
	if n != 8 {
		t.Errorf("%d problems, want 8:\n%s", n, msg)
	}

	// Through an embed.FS the files are named by their path in the fs.
	_, err = Load(subFS(t, "testdata/broken"))
	if err == nil || !strings.HasPrefix(err.Error(), "0001_init.up.sql:2: COMMIT in a transactional migration") {
		t.Errorf("embed.FS error = %v", err)
	}
}

func TestLoadRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		errs  []string // each must appear in the error; nil: no error
		check func(t *testing.T, s *Set)
	}{
		// File names.
		{name: "dots in name", files: map[string]string{"0010_1.9.0_schema.up.sql": "SELECT 1;"},
			check: func(t *testing.T, s *Set) {
				if m := s.Migrations[0]; m.ID != "0010_1.9.0_schema" || m.Number != "0010" || m.Name != "1.9.0_schema" {
					t.Errorf("%+v", m)
				}
			}},
		{name: "timestamps order numerically", files: map[string]string{
			"20261124120000_b.up.sql": "SELECT 1;", "9_a.up.sql": "SELECT 1;", "10_c.up.sql": "SELECT 1;"},
			check: func(t *testing.T, s *Set) {
				if got := s.IDs(); !reflect.DeepEqual(got, []string{"9_a", "10_c", "20261124120000_b"}) {
					t.Errorf("IDs = %q", got)
				}
			}},
		{name: "no number", files: map[string]string{"init.up.sql": "SELECT 1;"},
			errs: []string{`init.up.sql: file name does not hold a migration id: migration id "init": want <number>_<name>`, "hint: name migration files <number>_<name>.up.sql"}},
		{name: "empty name", files: map[string]string{"0001_.up.sql": "SELECT 1;", "0002_.down.sql": "SELECT 1;"},
			errs: []string{"0001_.up.sql: file name does not hold a migration id", "0002_.down.sql: file name does not hold a migration id"}},
		{name: "not a decimal number", files: map[string]string{"v1_init.up.sql": "SELECT 1;"},
			errs: []string{`v1_init.up.sql: file name does not hold a migration id: migration id "v1_init": "v1" is not a decimal number`}},
		{name: "same number", files: map[string]string{"7_a.up.sql": "SELECT 1;", "0007_b.up.sql": "SELECT 1;", "0007_b.down.sql": "SELECT 1;"},
			errs: []string{"7_a.up.sql: migration number 7 is used by 2 different migrations (7_a.up.sql, 0007_b.up.sql, 0007_b.down.sql)"}},
		{name: "down without up", files: map[string]string{"0001_a.down.sql": "SELECT 1;"},
			errs: []string{"0001_a.down.sql: down file without an up file: there is no 0001_a.up.sql"}},
		{name: "other files ignored", files: map[string]string{"0001_a.up.sql": "SELECT 1;", "notes.txt": "x", "0002_b.sql": "SELECT 1;", "0003_c.UP.SQL": "x", "sub/0004_d.up.sql": "SELECT 1;"},
			check: func(t *testing.T, s *Set) {
				if got := s.Ignored; !reflect.DeepEqual(got, []string{"0002_b.sql", "0003_c.UP.SQL", "notes.txt", "sub/"}) {
					t.Errorf("Ignored = %q", got)
				}
				if len(s.Warnings) != 2 || !strings.Contains(s.Warnings[0], "0002_b.sql: ignored: looks like a migration, but migration files must end in .up.sql (and optionally .down.sql), e.g. 0002_b.up.sql") ||
					!strings.Contains(s.Warnings[1], "0003_c.UP.SQL: ignored") {
					t.Errorf("Warnings = %q", s.Warnings)
				}
			}},
		{name: "empty directory", files: map[string]string{},
			check: func(t *testing.T, s *Set) {
				if len(s.Migrations) != 0 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "no migration files") {
					t.Errorf("%+v", s)
				}
			}},

		// Header directives.
		{name: "compatible", files: map[string]string{"1_a.up.sql": "\n-- about\n--   ledger:compatible   >=1.2.0 <2.0.0  \nSELECT 1;"},
			check: func(t *testing.T, s *Set) {
				if got := s.Migrations[0].Compatible; got != ">=1.2.0 <2.0.0" {
					t.Errorf("Compatible = %q", got)
				}
			}},
		{name: "invalid constraint", files: map[string]string{"1_a.up.sql": "-- ledger:compatible >=1.x.y.z\nSELECT 1;"},
			errs: []string{`1_a.up.sql:1: invalid compatibility constraint ">=1.x.y.z": `, `hint: use a semver constraint`}},
		{name: "empty constraint", files: map[string]string{"1_a.up.sql": "-- ledger:compatible\nSELECT 1;"},
			errs: []string{`1_a.up.sql:1: -- ledger:compatible needs a semver constraint`}},
		{name: "two constraints", files: map[string]string{"1_a.up.sql": "-- ledger:compatible >=1.0.0\n-- ledger:compatible <2.0.0\nSELECT 1;"},
			errs: []string{`1_a.up.sql:2: second -- ledger:compatible directive (the first is on line 1)`}},
		{name: "compatible in down", files: map[string]string{"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "-- ledger:compatible >=1.0.0\nSELECT 1;"},
			errs: []string{`1_a.down.sql:1: -- ledger:compatible in a down file`}},
		{name: "unknown directive", files: map[string]string{"1_a.up.sql": "-- ledger:no_transaction\nSELECT 1;"},
			errs: []string{`1_a.up.sql:1: unknown directive "ledger:no_transaction": the known directives are ledger:compatible, ledger:no-transaction`}},
		{name: "no-transaction with argument", files: map[string]string{"1_a.up.sql": "-- ledger:no-transaction please\nSELECT 1;"},
			errs: []string{`1_a.up.sql:1: -- ledger:no-transaction takes no argument, found "please"`}},
		{name: "directive after header", files: map[string]string{"1_a.up.sql": "SELECT 1;\n-- ledger:no-transaction\nSELECT 2; -- ledger:compatible >=1.0.0"},
			errs: []string{`1_a.up.sql:2: "-- ledger:no-transaction": directives belong in the header`, `1_a.up.sql:3: "-- ledger:compatible >=1.0.0": directives belong in the header`}},
		{name: "directive after block comment", files: map[string]string{"1_a.up.sql": "/* about */\n-- ledger:no-transaction\nVACUUM;"},
			errs: []string{`1_a.up.sql:2: "-- ledger:no-transaction": directives belong in the header`, "1_a.up.sql:3: VACUUM cannot run inside a transaction block"}},
		{name: "copy from stdin", files: map[string]string{"1_a.up.sql": "CREATE TABLE t (id int);\nCOPY t (id) FROM stdin;", "2_b.up.sql": "COPY (SELECT 1) TO STDOUT;\nCOPY t FROM '/tmp/t.csv';"},
			errs: []string{"1_a.up.sql:2: COPY … FROM STDIN reads rows the client sends, and a migration has no client to send them"}},
		{name: "directive text in a string is no directive", files: map[string]string{"1_a.up.sql": "SELECT '\n-- ledger:bogus\n';"}},
		{name: "byte order mark", files: map[string]string{"1_a.up.sql": "\uFEFFSELECT 1;"},
			errs: []string{"1_a.up.sql:1: the file starts with a UTF-8 byte order mark"}},

		// Empty files.
		{name: "comment-only up is a no-op with a note", files: map[string]string{"1_a.up.sql": "-- replaced by 000096\n\n/* yet */\n"},
			check: func(t *testing.T, s *Set) {
				m := s.Migrations[0]
				if !m.Up.Empty() || !m.Transactional() || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "1_a.up.sql holds no SQL statement") {
					t.Errorf("%+v, warnings %q", m, s.Warnings)
				}
			}},
		{name: "wrapped empty up", files: map[string]string{"1_a.up.sql": "BEGIN;\n-- nothing\nCOMMIT;\n"},
			check: func(t *testing.T, s *Set) {
				if m := s.Migrations[0]; !m.Up.Empty() || !m.Up.Wrapped || len(s.Warnings) != 1 {
					t.Errorf("%+v, warnings %q", m, s.Warnings)
				}
			}},
		{name: "empty down is an explicit no-op down", files: map[string]string{"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "  \n"},
			check: func(t *testing.T, s *Set) {
				m := s.Migrations[0]
				if m.Down == nil || !m.Down.Empty() || m.Down.Checksum != sum("  \n") || len(s.Warnings) != 0 {
					t.Errorf("%+v, warnings %q", m, s.Warnings)
				}
			}},

		// Wrapping and transaction control.
		{name: "wrapped variants", files: map[string]string{
			"1_a.up.sql": "-- header\nbegin transaction;\nSELECT 1;\nend work;\n-- trailer\n",
			"2_b.up.sql": "START TRANSACTION;\nSELECT 1;\nSELECT 2;\ncommit",
		},
			check: func(t *testing.T, s *Set) {
				a, b := s.Migrations[0], s.Migrations[1]
				if !a.Up.Wrapped || a.Up.Body != "SELECT 1;" || len(a.Up.Statements) != 1 || a.Up.Statements[0] != (Statement{Text: "SELECT 1", Line: 3, Offset: 29}) || a.Checksum != sum(a.Up.Text) {
					t.Errorf("1_a = %+v", a)
				}
				if !b.Up.Wrapped || b.Up.Body != "SELECT 1;\nSELECT 2;" || len(b.Up.Statements) != 2 || b.Up.Statements[1].Line != 3 {
					t.Errorf("2_b = %+v", b)
				}
			}},
		{name: "commit in the middle", files: map[string]string{"0003_x.up.sql": "BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;"},
			errs: []string{
				"0003_x.up.sql:3: COMMIT in a transactional migration would commit the runner's transaction early, leaving DDL without its ledger event (hint: remove the COMMIT",
				`ledger:no-transaction" in its header)`,
				"0003_x.up.sql:4: BEGIN in a transactional migration",
			}},
		{name: "BEGIN without COMMIT", files: map[string]string{"1_a.up.sql": "BEGIN;\nSELECT 1;"},
			errs: []string{"1_a.up.sql:1: BEGIN in a transactional migration", "must end with COMMIT;"}},
		{name: "COMMIT without BEGIN", files: map[string]string{"1_a.up.sql": "SELECT 1;\nCOMMIT;"},
			errs: []string{"1_a.up.sql:2: COMMIT in a transactional migration would commit the runner's transaction early", "start the file with BEGIN;"}},
		{name: "BEGIN with options", files: map[string]string{"1_a.up.sql": "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;"},
			errs: []string{"1_a.up.sql:1: BEGIN ISOLATION LEVEL SERIALIZABLE in a transactional migration", "transaction options are not"}},
		{name: "rollback, abort, two-phase", files: map[string]string{"1_a.up.sql": "SELECT 1;\nROLLBACK;\nABORT;\nPREPARE TRANSACTION 'x';\nCOMMIT PREPARED 'x';\nROLLBACK PREPARED 'y';\nSTART TRANSACTION READ ONLY;"},
			errs: []string{
				"1_a.up.sql:2: ROLLBACK in a transactional migration would roll back the runner's transaction",
				"1_a.up.sql:3: ABORT in a transactional migration",
				"1_a.up.sql:4: PREPARE TRANSACTION 'x' in a transactional migration would hand the runner's transaction to two-phase commit",
				"1_a.up.sql:5: COMMIT PREPARED 'x' cannot run inside a transaction block",
				"1_a.up.sql:6: ROLLBACK PREPARED 'y' cannot run inside a transaction block",
				"1_a.up.sql:7: START TRANSACTION READ ONLY in a transactional migration",
			}},
		{name: "savepoints are fine in a transaction", files: map[string]string{"1_a.up.sql": "SAVEPOINT s;\nSELECT 1;\nROLLBACK TO SAVEPOINT s;\nRELEASE s;"}},
		{name: "transaction words in bodies, strings, identifiers, comments", files: map[string]string{"1_a.up.sql": `
DO $$ BEGIN PERFORM 1; COMMIT; END $$;
CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  ROLLBACK;
END
$fn$;
CREATE FUNCTION g() RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT 1;
END;
INSERT INTO log VALUES ('COMMIT; VACUUM;');
SELECT 1 AS "commit";
/* COMMIT; */ -- ROLLBACK;
`}},
		{name: "no-transaction wrapped is a contradiction", files: map[string]string{"1_a.up.sql": "-- ledger:no-transaction\nBEGIN;\nCREATE INDEX CONCURRENTLY i ON t (x);\nCOMMIT;"},
			errs: []string{"1_a.up.sql:2: the file is wrapped in BEGIN … COMMIT but its header says -- ledger:no-transaction"}},
		{name: "transaction control in no-transaction file", files: map[string]string{"1_a.up.sql": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\nBEGIN;\nSELECT 1;\nSAVEPOINT s;"},
			errs: []string{"1_a.up.sql:3: BEGIN in a no-transaction migration", "1_a.up.sql:5: SAVEPOINT s in a no-transaction migration"}},
		{name: "down file rules", files: map[string]string{"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;\nCOMMIT;\nDROP INDEX CONCURRENTLY i;"},
			errs: []string{"1_a.down.sql:2: COMMIT in a transactional migration", "1_a.down.sql:3: DROP INDEX CONCURRENTLY cannot run inside a transaction block"}},

		// Statements that cannot run in a transaction block.
		{name: "outside-transaction statements", files: map[string]string{"1_a.up.sql": `CREATE TABLE t (x int);
create unique index concurrently i on t (x);
REINDEX TABLE CONCURRENTLY t;
VACUUM t;
CREATE DATABASE d;
DROP TABLESPACE s;
ALTER SYSTEM SET work_mem = '1MB';
ALTER TABLE p DETACH PARTITION c CONCURRENTLY;
DROP SUBSCRIPTION s;`},
			errs: []string{
				"1_a.up.sql:2: CREATE UNIQUE INDEX CONCURRENTLY cannot run inside a transaction block, and this migration runs in one (hint: put \"-- ledger:no-transaction\" in the file header",
				"1_a.up.sql:3: REINDEX … CONCURRENTLY",
				"1_a.up.sql:4: VACUUM",
				"1_a.up.sql:5: CREATE DATABASE",
				"1_a.up.sql:6: DROP TABLESPACE",
				"1_a.up.sql:7: ALTER SYSTEM",
				"1_a.up.sql:8: ALTER TABLE … DETACH PARTITION … CONCURRENTLY",
				"1_a.up.sql:9: DROP SUBSCRIPTION",
			}},
		{name: "outside-transaction statement in a wrapped file", files: map[string]string{"1_a.up.sql": "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (x);\nCOMMIT;"},
			errs: []string{"1_a.up.sql:2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block", "hint: remove the BEGIN; and COMMIT; around the file"}},
		{name: "no-transaction allows them", files: map[string]string{"1_a.up.sql": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\nVACUUM t;"},
			check: func(t *testing.T, s *Set) {
				if m := s.Migrations[0]; m.Transactional() || len(m.Up.Statements) != 2 || m.Up.Statements[1] != (Statement{Text: "VACUUM t", Line: 3, Offset: 63}) {
					t.Errorf("%+v", m)
				}
			}},

		// psql meta-commands and syntax.
		{name: "meta-commands", files: map[string]string{"1_a.up.sql": "SELECT 1;\n  \\set ON_ERROR_STOP on\nSELECT 2;", "1_a.down.sql": "\\i other.sql\n"},
			errs: []string{"1_a.up.sql:2: psql meta-commands (lines starting with a backslash, such as \\connect, \\set, \\i) are not SQL; the server cannot run them", "1_a.down.sql:1: psql meta-commands"}},
		{name: "backslash inside a string is no meta-command", files: map[string]string{"1_a.up.sql": "SELECT E'a\n\\n';\nSELECT '\n\\x';"}},
		{name: "meta-command with an unbalanced quote", files: map[string]string{"1_a.up.sql": "SELECT 1;\n\\set x 'y\n"},
			errs: []string{"1_a.up.sql:2: psql meta-commands", "1_a.up.sql:2: unterminated string literal"}},
		{name: "unterminated dollar quote", files: map[string]string{"1_a.up.sql": "SELECT 1;\n\nDO $x$ BEGIN END $$;"},
			errs: []string{"1_a.up.sql:3: unterminated dollar-quoted string: the $x$ opened here is never closed by a matching $x$"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			set, err := Load(fsys)
			if tt.errs == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if tt.check != nil {
					tt.check(t, set)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load: no error, want %q", tt.errs)
			}
			if set != nil {
				t.Errorf("Load returned a set with an error")
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got:\n%s", want, err)
				}
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File == "" {
				t.Errorf("error %v is not a *FileError naming its file", err)
			}
		})
	}
}

// FuzzAnalyze: checking a file never panics, and every problem names the file.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"BEGIN;\nSELECT 1;\nCOMMIT;",
		"-- ledger:no-transaction\nBEGIN;\nCOMMIT;",
		"-- ledger:compatible >=1\n\\x\nSELECT 'a",
		"\uFEFF-- ledger:bogus\nVACUUM; -- ledger:compatible",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, isDown bool) {
		_, errs := analyze("f.sql", []byte(text), isDown)
		for _, e := range errs {
			if e.File != "f.sql" || e.Msg == "" {
				t.Fatalf("analyze(%q): %+v", text, e)
			}
		}
	})
}
