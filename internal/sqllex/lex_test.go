package sqllex

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []Statement
	}{
		{"empty", "", nil},
		{"only comments", "-- a\n/* b */\n  ;\n;", nil},
		{"two statements", "SELECT 1;\nSELECT 2;", []Statement{{Text: "SELECT 1", Line: 1}, {Text: "SELECT 2", Line: 2}}},
		{"no final semicolon", "SELECT 1;\n\n  SELECT 2  \n", []Statement{{Text: "SELECT 1", Line: 1}, {Text: "SELECT 2", Line: 3}}},
		{"leading comments dropped, line after them", "-- header\n/* block\ncomment */\nCREATE TABLE t (id int);",
			[]Statement{{Text: "CREATE TABLE t (id int)", Line: 4}}},
		{"trailing comment kept", "SELECT 1 -- one\n;SELECT 2", []Statement{{Text: "SELECT 1 -- one", Line: 1}, {Text: "SELECT 2", Line: 2}}},
		{"semicolon in line comment", "SELECT 1 -- a;b\n;", []Statement{{Text: "SELECT 1 -- a;b", Line: 1}}},
		{"nested block comment", "SELECT /* a /* b; */ c; */ 1; SELECT 2", []Statement{{Text: "SELECT /* a /* b; */ c; */ 1", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"string with doubled quote", "SELECT 'a'';b'; SELECT 2", []Statement{{Text: "SELECT 'a'';b'", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"backslash is literal in standard string", `SELECT 'a\'; SELECT 2`, []Statement{{Text: `SELECT 'a\'`, Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"E string backslash escape", `SELECT E'a\';b'; SELECT 2`, []Statement{{Text: `SELECT E'a\';b'`, Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"lower-case e string", `SELECT e'\\'; SELECT 2`, []Statement{{Text: `SELECT e'\\'`, Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"word ending in e before string is no E string", `SELECT some'a\'; SELECT 2`, []Statement{{Text: `SELECT some'a\'`, Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"quoted identifier", `CREATE TABLE "a;""b" (x int); SELECT 2`, []Statement{{Text: `CREATE TABLE "a;""b" (x int)`, Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"dollar quote", "DO $$ BEGIN PERFORM 1; COMMIT; END $$;\nSELECT 2", []Statement{{Text: "DO $$ BEGIN PERFORM 1; COMMIT; END $$", Line: 1}, {Text: "SELECT 2", Line: 2}}},
		{"tagged dollar quote with inner $$", "CREATE FUNCTION f() RETURNS text AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql; SELECT 2",
			[]Statement{{Text: "CREATE FUNCTION f() RETURNS text AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"parameter is no dollar quote", "PREPARE p AS SELECT $1; SELECT $2", []Statement{{Text: "PREPARE p AS SELECT $1", Line: 1}, {Text: "SELECT $2", Line: 1}}},
		{"dollar inside identifier is no dollar quote", "SELECT a$b$c; SELECT 2", []Statement{{Text: "SELECT a$b$c", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"tag may not start with a digit", "SELECT $1$; SELECT 2", []Statement{{Text: "SELECT $1$", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"semicolon in parentheses", "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 2",
			[]Statement{{Text: "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))", Line: 1}, {Text: "SELECT 2", Line: 1}}},
		{"BEGIN ATOMIC body", "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND;\nSELECT 3;",
			[]Statement{{Text: "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND", Line: 1}, {Text: "SELECT 3", Line: 6}}},
		{"BEGIN outside CREATE FUNCTION splits", "BEGIN; SELECT 1; END;", []Statement{{Text: "BEGIN", Line: 1}, {Text: "SELECT 1", Line: 1}, {Text: "END", Line: 1}}},
		{"multi-line string counts lines", "SELECT 'a\nb\nc';\nSELECT 2", []Statement{{Text: "SELECT 'a\nb\nc'", Line: 1}, {Text: "SELECT 2", Line: 4}}},
		{"CRLF", "SELECT 1;\r\nSELECT 2;\r\n", []Statement{{Text: "SELECT 1", Line: 1}, {Text: "SELECT 2", Line: 2}}},
		{"non-ASCII space is not trimmed", "SELECT 1\u00a0;", []Statement{{Text: "SELECT 1\u00a0", Line: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.sql)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			for i, st := range got {
				if end := st.Offset + len(st.Text); end > len(tt.sql) || tt.sql[st.Offset:end] != st.Text {
					t.Errorf("statement %d: offset %d does not point at %q", i, st.Offset, st.Text)
				}
				got[i].Offset = 0 // the table gives text and line
			}
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Split(%q)\n got %+v\nwant %+v", tt.sql, got, tt.want)
			}
		})
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		line int
		msg  string
	}{
		{"string", "SELECT 1;\nSELECT 'abc;\n", 2, "unterminated string"},
		{"E string escaped quote", "SELECT E'abc\\';", 1, "unterminated E'…' string"},
		{"quoted identifier", "\n\nSELECT \"abc", 3, "unterminated quoted identifier"},
		{"block comment", "SELECT 1; /* a /* b */\n", 1, "unterminated /* comment"},
		{"dollar quote", "SELECT 1;\nDO $body$ BEGIN END $$;", 2, "$body$ opened here is never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.sql)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Split(%q) = %v, want a *Error", tt.sql, err)
			}
			if fe.Line != tt.line || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("got line %d %q, want line %d containing %q", fe.Line, fe.Msg, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q should start with its line", err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tx := map[string]TxKind{
		"BEGIN":                              TxBeginPlain,
		"begin work":                         TxBeginPlain,
		"Begin Transaction":                  TxBeginPlain,
		"START TRANSACTION":                  TxBeginPlain,
		"BEGIN ISOLATION LEVEL SERIALIZABLE": TxBeginOpts,
		"START TRANSACTION READ ONLY":        TxBeginOpts,
		"COMMIT":                             TxCommitPlain,
		"END TRANSACTION":                    TxCommitPlain,
		"COMMIT AND CHAIN":                   TxCommitOther,
		"ROLLBACK":                           TxRollback,
		"ABORT":                              TxRollback,
		"ROLLBACK TO SAVEPOINT s":            TxSavepoint,
		"ROLLBACK WORK TO s":                 TxSavepoint,
		"SAVEPOINT s":                        TxSavepoint,
		"PREPARE TRANSACTION 'x'":            TxPrepare,
		"COMMIT PREPARED 'x'":                TxPrepared,
		"ROLLBACK PREPARED 'x'":              TxPrepared,
		"PREPARE p AS SELECT 1":              TxNone,
		`SELECT "COMMIT"`:                    TxNone,
		"/* COMMIT */ SELECT 1":              TxNone,
		"DO $$ BEGIN END $$":                 TxNone,
		"CREATE FUNCTION f() AS 'BEGIN; COMMIT;' x": TxNone,
	}
	for sql, want := range tx {
		st := mustRaw(t, sql)
		if got := ClassifyTx(Words(sql, st.Tokens)); got != want {
			t.Errorf("classifyTx(%q) = %d, want %d", sql, got, want)
		}
	}
	outside := map[string]string{
		"create index concurrently i on t (x)":                         "CREATE INDEX CONCURRENTLY",
		"CREATE UNIQUE INDEX CONCURRENTLY i ON t (x)":                  "CREATE UNIQUE INDEX CONCURRENTLY",
		"CREATE /* c */ INDEX\n  CONCURRENTLY i ON t (x)":              "CREATE INDEX CONCURRENTLY",
		"DROP INDEX CONCURRENTLY i":                                    "DROP INDEX CONCURRENTLY",
		"REINDEX INDEX CONCURRENTLY i":                                 "REINDEX … CONCURRENTLY",
		"REINDEX (CONCURRENTLY) TABLE t":                               "REINDEX … CONCURRENTLY",
		"REINDEX (VERBOSE) DATABASE d":                                 "REINDEX DATABASE",
		"VACUUM ANALYZE t":                                             "VACUUM",
		"CREATE DATABASE d":                                            "CREATE DATABASE",
		"DROP DATABASE d":                                              "DROP DATABASE",
		"CREATE TABLESPACE s LOCATION '/x'":                            "CREATE TABLESPACE",
		"DROP TABLESPACE s":                                            "DROP TABLESPACE",
		"ALTER SYSTEM SET work_mem = '1MB'":                            "ALTER SYSTEM",
		"ALTER TABLE p DETACH PARTITION c CONCURRENTLY":                "ALTER TABLE … DETACH PARTITION … CONCURRENTLY",
		"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p":           "CREATE SUBSCRIPTION",
		"DROP SUBSCRIPTION s":                                          "DROP SUBSCRIPTION",
		"CREATE INDEX i ON t (x)":                                      "",
		"CREATE INDEX \"concurrently\" ON t (x)":                       "",
		"REINDEX TABLE t":                                              "",
		"ALTER TABLE p DETACH PARTITION c":                             "",
		"ALTER TABLE t ADD COLUMN note text DEFAULT 'CONCURRENTLY'":    "",
		"INSERT INTO log VALUES ('VACUUM')":                            "",
		"CREATE TABLE database (id int)":                               "",
		"ALTER TABLE p DETACH PARTITION c; -- CONCURRENTLY":            "",
		"COMMENT ON TABLE t IS 'CREATE INDEX CONCURRENTLY is not run'": "",
	}
	for sql, want := range outside {
		st := mustRaw(t, sql)
		if got := OutsideTxOnly(Words(sql, st.Tokens)); got != want {
			t.Errorf("outsideTxOnly(%q) = %q, want %q", sql, got, want)
		}
	}
}

func mustRaw(t *testing.T, sql string) Raw {
	t.Helper()
	lx, err := Lex(sql)
	if err != nil {
		t.Fatalf("lex(%q): %v", sql, err)
	}
	raw := SplitTokens(sql, lx.Tokens)
	if len(raw) == 0 {
		t.Fatalf("no statement in %q", sql)
	}
	return raw[0]
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"",
		";",
		"SELECT 1; SELECT 2",
		"SELECT 'a'';b'; SELECT E'\\';x'; SELECT e'\\\\'",
		`SELECT "a;""b"`,
		"DO $$ BEGIN COMMIT; END $$; SELECT $1; SELECT a$b$c",
		"SELECT $a$ $b$ ; $a$; SELECT $$",
		"/* a /* b */ ; */ SELECT 1 -- ;\n;",
		"CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; SELECT CASE WHEN x THEN 1 END; END; SELECT 2",
		"CREATE RULE r AS ON INSERT TO t DO (INSERT INTO a VALUES (1); DELETE FROM b);",
		"SELECT ((1; SELECT 2",
		"SELECT )); SELECT 2",
		"\\connect db\nSELECT 1;\n  \\set x 'y'\n",
		"SELECT 1 -- trailing",
		"SELECT 'unterminated",
		"SELECT $x$ unterminated",
		"/* unterminated",
		"SELECT \u00a0; \ufeffSELECT 1\r\n;",
		"BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n",
		"1$a$;$a$",
		"e'';E''''",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := Split(sql)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("Split(%q): error %v without a line", sql, err)
			}
			return
		}
		if n := strings.Count(sql, ";") + 1; len(stmts) > n {
			t.Fatalf("Split(%q): %d statements from %d semicolons", sql, len(stmts), n-1)
		}
		for _, s := range stmts {
			if strings.Trim(s.Text, Space) == "" || s.Text != strings.Trim(s.Text, Space) {
				t.Fatalf("Split(%q): statement %q is empty or not trimmed", sql, s.Text)
			}
			if s.Line < 1 || s.Line > strings.Count(sql, "\n")+1 {
				t.Fatalf("Split(%q): statement %q has line %d", sql, s.Text, s.Line)
			}
			text := strings.Trim(strings.TrimSuffix(s.Text, ";"), Space)
			again, err := Split(text)
			if err != nil {
				t.Fatalf("Split(%q): statement %q does not split again: %v", sql, s.Text, err)
			}
			if len(again) != 1 || again[0].Text != text {
				t.Fatalf("Split(%q): statement %q splits again into %+v", sql, s.Text, again)
			}
		}
	})
}
