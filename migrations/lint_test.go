package migrations_test

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

func mapFS(m map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for n, d := range m {
		fsys[n] = &fstest.MapFile{Data: []byte(d)}
	}
	return fsys
}

// Issue 25, item 1 (library): warnings do not fail a lint unless strict,
// and while an error exists every warning is still reported.
func TestLintWarningsAndErrors(t *testing.T) {
	rep, err := migrations.Lint(mapFS(map[string]string{
		"0001_placeholder.up.sql": "-- Mattermost keeps a placeholder here\n",
		"0002_users.up.sql":       "CREATE TABLE users (id int);\n",
		"0003_Shout.UP.SQL":       "SELECT 1;",
	}), migrations.LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(migrations.SeverityWarning) != 2 || rep.Count(migrations.SeverityError) != 0 || rep.Failed(false) || !rep.Failed(true) || rep.Migrations != 2 {
		t.Fatalf("report %+v", rep)
	}
	rep, err = migrations.Lint(mapFS(map[string]string{
		"0001_placeholder.up.sql": "-- a placeholder\n",
		"0002_bad.up.sql":         "CREATE INDEX CONCURRENTLY i ON t (x);\n",
		"0003_empty.up.sql":       "\n",
	}), migrations.LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(migrations.SeverityError) != 1 || rep.Count(migrations.SeverityWarning) != 2 || !rep.Failed(false) {
		t.Fatalf("report %+v", rep)
	}
	if f := rep.Findings[0]; f.Severity != migrations.SeverityError || f.File != "0002_bad.up.sql" || f.Line != 1 {
		t.Errorf("errors first: %+v", f)
	}
}

// Issue 25, item 3: a migration declaring -- ledger:compatible whose SQL
// removes or reshapes what those releases may use contradicts its
// declaration: file:line and the object.
func TestLintCompatibleContradictions(t *testing.T) {
	const head = "-- ledger:compatible >=1.2.0\n"
	cases := []struct {
		sql     string
		line    int
		object  string
		message string
	}{
		{"ALTER TABLE users DROP COLUMN legacy_flag;", 2, "column users.legacy_flag", "drops column users.legacy_flag, which releases >=1.2.0 may read"},
		{"ALTER TABLE IF EXISTS ONLY public.users\n  ADD COLUMN a int,\n  DROP b;", 4, "column public.users.b", "drops column public.users.b"},
		{"DROP TABLE IF EXISTS a, \"Old Orders\" CASCADE;", 2, "table a", "drops table a, which releases >=1.2.0 may read"},
		{"ALTER TABLE users RENAME COLUMN name TO full_name;", 2, "column users.name", "renames column users.name to full_name, which releases >=1.2.0 may still use by its old name"},
		{"ALTER TABLE users RENAME TO accounts;", 2, "table users", "renames table users to accounts"},
		{"ALTER TABLE users ALTER COLUMN id TYPE bigint;", 2, "column users.id", "changes the type of column users.id"},
		{"ALTER TABLE users ALTER id SET DATA TYPE bigint;", 2, "column users.id", "changes the type of column users.id"},
		{"ALTER TABLE users ADD COLUMN tenant int NOT NULL;", 2, "column users.tenant", "adds column users.tenant NOT NULL without a default, which releases >=1.2.0 do not write"},
		{"ALTER TABLE users ALTER COLUMN email SET NOT NULL;", 2, "column users.email", "makes column users.email NOT NULL without setting a default"},
	}
	for _, c := range cases {
		rep, err := migrations.Lint(mapFS(map[string]string{"0001_x.up.sql": head + c.sql + "\n"}), migrations.LintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var errs []migrations.Finding
		for _, f := range rep.Findings {
			if f.Severity == migrations.SeverityError {
				errs = append(errs, f)
			}
		}
		if len(errs) == 0 || errs[0].Line != c.line || errs[0].Object != c.object || !strings.Contains(errs[0].Message, c.message) || errs[0].File != "0001_x.up.sql" {
			t.Errorf("%q:\n got %+v\nwant line %d, %s, %q", c.sql, errs, c.line, c.object, c.message)
		}
	}
	// What is not destructive, or is only in a string, a comment or a
	// function body, is not reported.
	for _, sql := range []string{
		"ALTER TABLE users ADD COLUMN tenant int NOT NULL DEFAULT 0;",
		"ALTER TABLE users ADD COLUMN id2 bigint GENERATED ALWAYS AS IDENTITY NOT NULL;",
		"ALTER TABLE users ALTER COLUMN email SET DEFAULT '', ALTER COLUMN email SET NOT NULL;",
		"ALTER TABLE users DROP CONSTRAINT users_pkey, ADD CONSTRAINT users_pkey PRIMARY KEY (id);",
		"ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
		"COMMENT ON TABLE users IS 'DROP TABLE users; ALTER TABLE users DROP COLUMN x';",
		"-- ALTER TABLE users DROP COLUMN x;\nCREATE TABLE t (x int);",
		"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DROP TABLE users $$;",
	} {
		rep, err := migrations.Lint(mapFS(map[string]string{"0001_x.up.sql": head + sql + "\n"}), migrations.LintOptions{})
		if err != nil || len(rep.Findings) != 0 {
			t.Errorf("%q: %+v %v", sql, rep.Findings, err)
		}
	}
	// Without a declaration, a destructive statement is safe (old releases
	// refuse); it is shown only with Verbose.
	plain := mapFS(map[string]string{"0001_x.up.sql": "ALTER TABLE users DROP COLUMN legacy_flag;\n"})
	if rep, _ := migrations.Lint(plain, migrations.LintOptions{}); len(rep.Findings) != 0 {
		t.Errorf("not verbose: %+v", rep.Findings)
	}
	rep, _ := migrations.Lint(plain, migrations.LintOptions{Verbose: true})
	if len(rep.Findings) != 1 || rep.Findings[0].Severity != migrations.SeverityInfo || rep.Failed(true) {
		t.Errorf("verbose: %+v", rep.Findings)
	}
}

// Issue 25, item 3: with a release's manifest, lint names the migrations
// that would make that release refuse — up's release guard, offline.
func TestLintRelease(t *testing.T) {
	old := map[string]string{
		"0001_users.up.sql":  "CREATE TABLE users (id int);\n",
		"0002_orders.up.sql": "CREATE TABLE orders (id int);\n",
	}
	oldSet, err := migrations.Load(mapFS(old))
	if err != nil {
		t.Fatal(err)
	}
	release, err := migrations.NewManifest(oldSet, "1.2.0", policy.Compatible)
	if err != nil {
		t.Fatal(err)
	}
	now := map[string]string{
		"0003_add_status.up.sql": "-- ledger:compatible >=1.2.0\nALTER TABLE orders ADD COLUMN status text;\n",
		"0004_drop_users.up.sql": "DROP TABLE users;\n",
		"0005_narrow.up.sql":     "-- ledger:compatible >=1.3.0\nCREATE INDEX ON orders (id);\n",
	}
	for k, v := range old {
		now[k] = v
	}
	rep, err := migrations.Lint(mapFS(now), migrations.LintOptions{Release: &release})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Pending, []string{"0003_add_status", "0004_drop_users", "0005_narrow"}) ||
		!reflect.DeepEqual(rep.Refusing, []string{"0004_drop_users", "0005_narrow"}) {
		t.Fatalf("pending %v, refusing %v", rep.Pending, rep.Refusing)
	}
	var msgs []string
	for _, f := range rep.Findings {
		msgs = append(msgs, f.Message)
		if f.Check == "release" && f.Severity != migrations.SeverityWarning {
			t.Errorf("a release finding is a warning: %+v", f)
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"applying 0004_drop_users makes release 1.2.0 (policy compatible) refuse: it does not know it, and it declares no -- ledger:compatible",
		"applying 0005_narrow makes release 1.2.0 (policy compatible) refuse: it does not know it, and 1.2.0 is not in its -- ledger:compatible >=1.3.0",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in\n%s", want, all)
		}
	}
}

// A declaration admitting only the releases that ship the migration (the
// demo's 1.3.0 drops a column, compatible >=1.3.0) contradicts nothing
// once lint knows the release: they know what it removed.
func TestLintCompatibleKnowsTheShippingRelease(t *testing.T) {
	fsys := mapFS(map[string]string{
		"0001_users.up.sql":       "CREATE TABLE users (id int, nickname text, flag bool);\n",
		"0002_drop_nick.up.sql":   "-- ledger:compatible >=1.3.0\nALTER TABLE users DROP COLUMN nickname;\n",
		"0003_drop_flag.up.sql":   "-- ledger:compatible >=1.2.0\nALTER TABLE users DROP COLUMN flag;\n",
		"0004_retype.up.sql":      "-- ledger:compatible ^1.3\nALTER TABLE users ALTER COLUMN id TYPE bigint;\n",
		"0005_below_two.up.sql":   "-- ledger:compatible <2.0.0\nDROP TABLE users;\n",
		"0006_patch_range.up.sql": "-- ledger:compatible ~1.3.0\nALTER TABLE users RENAME TO accounts;\n",
	})
	rep, err := migrations.Lint(fsys, migrations.LintOptions{AppVersion: "1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Migration+": "+f.Message)
	}
	want := []string{
		"0003_drop_flag: drops column users.flag, which releases >=1.2.0 may read: it contradicts its -- ledger:compatible >=1.2.0 (it admits 1.2.0, older than 1.3.0, which ships it)",
		"0005_below_two: drops table users, which releases <2.0.0 may read: it contradicts its -- ledger:compatible <2.0.0 (it admits 0.0.0, older than 1.3.0, which ships it)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Not knowing the release, every declaration is taken to admit older ones.
	rep, _ = migrations.Lint(fsys, migrations.LintOptions{})
	if rep.Count(migrations.SeverityError) != 5 {
		t.Errorf("without the release: %d errors, want 5", rep.Count(migrations.SeverityError))
	}
}
