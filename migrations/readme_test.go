package migrations_test

import (
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/internal/readmetest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// The README's library snippet is a whole program: it is extracted and
// built against this module, so it cannot drift from the API.
func TestREADMESnippetBuilds(t *testing.T) {
	t.Parallel()
	readmetest.Build(t, "## The startup check", map[string][]byte{
		"migrations/0001_users.up.sql": []byte("CREATE TABLE users (id bigint PRIMARY KEY);\n"),
	})
}

// The README's release snippet (an embedded manifest, a check-in) is a
// whole program: it is built against this module with a real manifest.
func TestREADMEReleaseSnippetBuilds(t *testing.T) {
	t.Parallel()
	set, err := migrations.Load(fstest.MapFS{"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id bigint PRIMARY KEY);")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrations.NewManifest(set, "1.0.0", policy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	readmetest.Build(t, "<!-- release-snippet:", map[string][]byte{"release.json": m.Marshal()})
}

// The README's Go migrations and lint programs are built against this
// module.
func TestREADMEGoMigrationsAndLintSnippetsBuild(t *testing.T) {
	t.Parallel()
	readmetest.Build(t, "<!-- go-migrations-snippet: -->", map[string][]byte{
		"migrations/0001_users.up.sql": []byte("CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
	})
	readmetest.Build(t, "<!-- lint-snippet: -->", nil)
	readmetest.Build(t, "<!-- cli-library-snippet: -->", nil)
}
