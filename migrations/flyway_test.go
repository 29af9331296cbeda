package migrations

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// Issue 25, item 10: Flyway directories load as they are — V<version>__
// files ordered as Flyway orders them, U<version>__ undo files as their
// downs, paired by version.
func TestLoadFlywayFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"V1__init.sql":             {Data: []byte("CREATE TABLE a (id int);\n")},
		"V1.1__add.sql":            {Data: []byte("ALTER TABLE a ADD COLUMN b int;\n")},
		"U1.1__drop_b.sql":         {Data: []byte("ALTER TABLE a DROP COLUMN b;\n")},
		"V1.10__later.sql":         {Data: []byte("ALTER TABLE a ADD COLUMN c int;\n")},
		"V1_2__underscored.sql":    {Data: []byte("ALTER TABLE a ADD COLUMN d int;\n")},
		"V2__two.sql":              {Data: []byte("CREATE TABLE e (id int);\n")},
		"V20240115__timestamp.sql": {Data: []byte("CREATE TABLE f (id int);\n")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"100000000_V1__init", "100010000_V1.1__add", "100020000_V1_2__underscored", "100100000_V1.10__later", "200000000_V2__two", "2024011500000000_V20240115__timestamp"}
	if got := set.IDs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ids %q\nwant %q", got, want)
	}
	add, _ := set.Lookup("100010000_V1.1__add")
	if add.Format != FormatFlyway || add.Version != "1.1" || add.Down == nil || add.Down.File != "U1.1__drop_b.sql" || add.Checksum != sum("ALTER TABLE a ADD COLUMN b int;\n") {
		t.Errorf("V1.1 = %+v", add)
	}
	if two, _ := set.Lookup("200000000_V2__two"); two.Down != nil || !strings.Contains(two.NoDown(), "no undo file U2__") {
		t.Errorf("V2: down %v, %q", two.Down, two.NoDown())
	}
	// The startup check's fast path agrees with Load.
	known, err := Checksums(fsys)
	if err != nil || len(known) != len(want) || known[1].ID != add.ID || known[1].Checksum != add.Checksum {
		t.Errorf("Checksums = %+v, %v", known, err)
	}
}

func TestLoadFlywayProblems(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"V1__a.sql": "SELECT 1;", "R__views.sql": "SELECT 1;"}, "R__views.sql: a Flyway repeatable migration"},
		{map[string]string{"U3__undo.sql": "SELECT 1;"}, "U3__undo.sql: undo file without a versioned migration: there is no V3__"},
		{map[string]string{"V1.2.3.4__deep.sql": "SELECT 1;"}, "has 4 parts"},
		{map[string]string{"V1__a.sql": "SELECT 1;", "V1.0__b.sql": "SELECT 2;"}, "V1__a.sql: Flyway version 1 is also V1.0__b.sql"},
	}
	for _, c := range cases {
		fsys := fstest.MapFS{}
		for n, d := range c.files {
			fsys[n] = &fstest.MapFile{Data: []byte(d)}
		}
		_, err := Load(fsys)
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.files, err, c.want)
		}
	}
}

// Flyway's checksum (CRC32 over the lines without their terminators, a BOM
// dropped), checked against zlib.crc32 of the same bytes.
func TestFlywayChecksum(t *testing.T) {
	for _, text := range []string{
		"CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n",
		"CREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);",
		"\uFEFFCREATE TABLE a (id int);\r\rINSERT INTO a VALUES (1);\n\n",
	} {
		if got := FlywayChecksum([]byte(text)); got != -279898995 {
			t.Errorf("FlywayChecksum(%q) = %d, want -279898995", text, got)
		}
	}
	if got := FlywayChecksum([]byte("SELECT 1;")); got != 78787420 {
		t.Errorf("FlywayChecksum(SELECT 1;) = %d", got)
	}
	if FlywayVersion("1_01.0") != "1.1" || FlywayVersion("2") != "2" {
		t.Errorf("FlywayVersion: %q %q", FlywayVersion("1_01.0"), FlywayVersion("2"))
	}
}

// Issue 25, item 10: tern directories load as they are: the SQL above
// "---- create above / drop below ----" is the up, below it the down.
func TestLoadTernFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"001_create_users.sql": {Data: []byte("CREATE TABLE users (id int);\n\n---- create above / drop below ----\n\nDROP TABLE users;\n")},
		"002_add_email.sql":    {Data: []byte("ALTER TABLE users ADD COLUMN email text;\n")},
		"003_index.sql":        {Data: []byte("---- tern: disable-tx ----\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n---- create above / drop below ----\nDROP INDEX CONCURRENTLY users_email;\n")},
		"004_irreversible.sql": {Data: []byte("DELETE FROM users;\n---- create above / drop below ----\n\n")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.IDs(), []string{"001_create_users", "002_add_email", "003_index", "004_irreversible"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ids %q", got)
	}
	users, _ := set.Lookup("001_create_users")
	if users.Format != FormatTern || len(users.Up.Statements) != 1 || users.Down == nil || users.Down.Statements[0].Line != 5 || strings.Contains(users.Down.Text, "CREATE") {
		t.Errorf("001 = %+v", users)
	}
	if m, _ := set.Lookup("002_add_email"); m.Down != nil || m.Checksum != sum("ALTER TABLE users ADD COLUMN email text;\n") {
		t.Errorf("002 = %+v", m)
	}
	idx, _ := set.Lookup("003_index")
	if idx.Transactional() || idx.Down == nil || !idx.Down.NoTransaction {
		t.Errorf("003: disable-tx not honoured: %+v", idx)
	}
	if rec, err := recordedScript("recorded", idx.Down.Text); err != nil || !rec.NoTransaction {
		t.Errorf("003: recorded down %q is not no-transaction (%v)", idx.Down.Text, err)
	}
	if m, _ := set.Lookup("004_irreversible"); m.Down != nil || !strings.Contains(m.NoDown(), "nothing below") {
		t.Errorf("004: %+v", m)
	}
	known, err := Checksums(fsys)
	if err != nil || len(known) != 4 || known[0].Checksum != users.Checksum {
		t.Errorf("Checksums = %+v, %v", known, err)
	}
	_, err = Load(fstest.MapFS{"001_t.sql": {Data: []byte("CREATE TABLE {{ .name }} ();\n---- create above / drop below ----\n")}})
	if err == nil || !strings.Contains(err.Error(), "001_t.sql:1: a Go template action") {
		t.Errorf("template: %v", err)
	}
}
