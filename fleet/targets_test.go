package fleet_test

import (
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/fleet"
)

func TestParseTargets(t *testing.T) {
	good := `# the fleet
postgres://app:secret@db1:5432/shop_eu   name=eu

postgres://app@db2/shop_us    # comment after a URL
postgres://app@db3/saas tenant=acme
	postgres://app@db3/saas tenant=globex name=g
`
	ts, err := fleet.ParseTargets(strings.NewReader(good), "targets.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.Target{
		{Name: "eu", URL: "postgres://app:secret@db1:5432/shop_eu"},
		{Name: "shop_us", URL: "postgres://app@db2/shop_us"},
		{Name: "saas/acme", URL: "postgres://app@db3/saas", Tenant: "acme"},
		{Name: "g", URL: "postgres://app@db3/saas", Tenant: "globex"},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d targets: %+v", len(ts), ts)
	}
	for i := range want {
		if ts[i] != want[i] {
			t.Errorf("target %d: %+v, want %+v", i, ts[i], want[i])
		}
	}
	if r := ts[0].Redacted(); strings.Contains(r, "secret") {
		t.Errorf("redacted URL holds the password: %s", r)
	}
	bad := `postgres://a@h/x
postgres://a@h/x
mysql://a@h/y
postgres://a@h/z color=blue
postgres://a@h/w tenant=bad-name
`
	_, err = fleet.ParseTargets(strings.NewReader(bad), "bad.txt")
	for _, w := range []string{`bad.txt`, `line 4: unknown extra "color"`, `line 2: name "x" is also line 1's`, `line 3: "mysql://a@h/y" is not a postgres:// URL`, `line 5: tenant "bad-name"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not say %q", err, w)
		}
	}
	if _, err := fleet.ParseTargets(strings.NewReader("# nothing\n"), "empty"); err == nil {
		t.Error("an empty targets file was accepted")
	}
}
