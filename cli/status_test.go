package cli

import (
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// status twice on the same ledger prints the same bytes, text and JSON:
// its failures come in migration order, never a map's.
func TestStatusIsByteIdentical(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for _, id := range []string{"0003_c", "0002_b", "0001_a"} {
		if code, _, errOut := ledgerCLI(t, url, "up", "--dir", writeDir(t, map[string]string{id + ".up.sql": "SELECT 1/0;"})); code != exitError {
			t.Fatalf("up of %s: exit %d, want 1\n%s", id, code, errOut)
		}
	}
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "SELECT 1/0;", "0002_b.up.sql": "SELECT 1/0;", "0003_c.up.sql": "SELECT 1/0;"})
	for _, args := range [][]string{{"status", "--dir", dir}, {"status", "--dir", dir, "--json"}} {
		first := mustCLI(t, url, args...)
		if i, j, k := strings.Index(first, "0001_a"), strings.Index(first, "0002_b"), strings.Index(first, "0003_c"); i < 0 || !(i < j && j < k) {
			t.Fatalf("%v: the failures are not in migration order:\n%s", args, first)
		}
		for range 5 {
			if again := mustCLI(t, url, args...); again != first {
				t.Fatalf("%v printed different output on the same ledger:\n%s\n---\n%s", args, first, again)
			}
		}
	}
}
