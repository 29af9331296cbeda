package migrations_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

func manifestOf(t testing.TB, r release, p policy.Policy) migrations.Manifest {
	t.Helper()
	m, err := migrations.NewManifest(load(t, r.files), r.version, p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	r := newRelease("1.2.5", ids125...).with("0010_idx", "-- ledger:compatible >=1.2.0\n-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY users_name ON users (name);")
	set := load(t, r.files)
	m := manifestOf(t, r, policy.Compatible)
	if m.SetDigest != set.Digest() {
		t.Errorf("set digest %s, want the set's %s", m.SetDigest, set.Digest())
	}
	last := m.Migrations[len(m.Migrations)-1]
	if last.ID != "0010_idx" || last.Transactional || last.Compatible != ">=1.2.0" {
		t.Errorf("last migration %+v", last)
	}
	got, err := migrations.ParseManifest(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != m.Digest || got.String() != "1.2.5 (compatible, 9 migrations)" {
		t.Errorf("parsed %s %s, want %s", got, got.Digest, m.Digest)
	}
	if d := got.Diff(set); len(d) != 0 {
		t.Errorf("diff with its own set: %q", d)
	}
	// The directory moves on: every difference is named.
	moved := r.with("0004_users_email", "ALTER TABLE users ADD COLUMN email2 text;").with("0011_more", "SELECT 1;")
	delete(moved.files, "0006_products")
	d := got.Diff(load(t, moved.files))
	want := []string{"0004_users_email: the file's checksum", "0011_more is in the directory but not in the manifest", "0006_products is in the manifest but not in the directory"}
	if len(d) != len(want) {
		t.Fatalf("diff %q, want %d entries", d, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(d[i], want[i]) {
			t.Errorf("diff[%d] = %q, want prefix %q", i, d[i], want[i])
		}
	}
}

func TestManifestRefusesBadInput(t *testing.T) {
	good := manifestOf(t, newRelease("1.2.0", ids120...), policy.Strict).Marshal()
	var mErr *migrations.ManifestError
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"edited checksum": {bytes.Replace(good, []byte(`"checksum": "`), []byte(`"checksum": "0`), 1), "does not match its content"},
		"edited version":  {bytes.Replace(good, []byte(`"1.2.0"`), []byte(`"1.2.1"`), 1), "does not match its content"},
		"newer format":    {bytes.Replace(good, []byte(`"manifest_format": 1`), []byte(`"manifest_format": 2`), 1), "manifest format 2 is newer"},
		"unknown field":   {bytes.Replace(good, []byte(`"policy"`), []byte(`"extra": 1, "policy"`), 1), "not a ledger manifest"},
		"not json":        {[]byte("CREATE TABLE x ();"), "not a ledger manifest"},
	} {
		_, err := migrations.ParseManifest(tc.data)
		if !errors.As(err, &mErr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a *ManifestError containing %q", name, err, tc.want)
		}
	}
	if _, err := migrations.NewManifest(load(t, newRelease("1.2.0", ids120...).files), "latest", policy.Strict); !errors.Is(err, policy.ErrInvalidAppVersion) {
		t.Errorf("NewManifest with app version latest: %v", err)
	}
}

// A release checked by its manifest gets the verdict it gets from its files.
func TestCheckManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r120, r125 := newRelease("1.2.0", ids120...), newRelease("1.2.5", ids125...)
	m120 := manifestOf(t, r120, policy.Strict)
	v, err := migrations.CheckManifest(ctx, pool, m120.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, v, policy.Migrate)
	r120.up(t, pool, "h1")
	v, err = migrations.CheckManifest(ctx, pool, m120.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, v, policy.Run)
	r125.up(t, pool, "h1")
	for _, p := range []policy.Policy{policy.Strict, policy.SameMajor} {
		m := manifestOf(t, r120, p)
		v, err := migrations.CheckManifest(ctx, pool, m.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		fromFiles := r120.check(t, pool, migrations.WithPolicy(p))
		if v.Decision != fromFiles.Decision || v.Policy != p.String() || v.AppVersion != "1.2.0" || len(v.Unknown) != len(fromFiles.Unknown) {
			t.Errorf("policy %s: manifest verdict %s (%s, %s, %d unknown), files %s (%d unknown)", p, v.Decision, v.Policy, v.AppVersion, len(v.Unknown), fromFiles.Decision, len(fromFiles.Unknown))
		}
	}
}
