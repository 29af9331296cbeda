package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
)

// The set of the tampering tests: 0003 is what a forger pretends is applied.
var tamperSet = map[string]string{
	"0001_accounts.up.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);",
	"0002_orders.up.sql":   "CREATE TABLE orders (id bigint PRIMARY KEY);",
	"0003_status.up.sql":   "ALTER TABLE orders ADD COLUMN status text;",
}

// forgeSQL runs sql as a superuser past the ledger's triggers
// (session_replication_role = replica), as an attacker with those rights would.
func forgeSQL(t *testing.T, url, sql string) {
	t.Helper()
	pgtest.Exec(t, url, "SET session_replication_role = replica; "+sql)
}

func queryInt(t *testing.T, url, sql string) int64 {
	t.Helper()
	var n int64
	pgtest.QueryRow(t, url, sql, &n)
	return n
}

// verdicts are the exit codes and the telling line of each reader.
type verdicts struct {
	check, status, up, verify, down int
}

// Every tampering of the issue, one case each, with the exact verdict of
// check, status, up and verify. Where the tampering is visible in O(1) (the
// head, the projection, the newest event) all four refuse with exit 5; a
// deleted or edited event in the middle of the chain is visible only to a
// walk of the whole chain (verify), or to an anchor kept outside the
// database (verify --expect-head).
func TestTamperingVerdictsAgree(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, tamperSet)
	set, err := migrations.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fullDigest := set.Manifest("").Digest().String()
	inDoubtDir := writeDir(t, map[string]string{
		"0001_accounts.up.sql": tamperSet["0001_accounts.up.sql"],
		"0002_orders.up.sql":   tamperSet["0002_orders.up.sql"],
		"0003_backfill.up.sql": "-- ledger:no-transaction\nINSERT INTO accounts VALUES (1);\nSELECT 1/0;\n",
	})
	all5 := verdicts{5, 5, 5, 5, 5}
	for _, c := range []struct {
		name   string
		dir    string // the set the readers use (default dir)
		setup  []string
		forge  string
		want   verdicts
		reason string // in the output of check, status and up
	}{
		{
			name:  "head digest set to the full set's, 0003 missing",
			setup: []string{"up --to 0002_orders"},
			forge: `UPDATE ledger.head SET digest = decode('` + fullDigest + `', 'hex')`,
			want:  all5, reason: "applied-set digest",
		},
		{
			name: "head in_doubt set to 0 with a migration in doubt", dir: inDoubtDir,
			setup: []string{"up"},
			forge: `UPDATE ledger.head SET in_doubt = 0`,
			want:  all5, reason: "in doubt 0, committed 1",
		},
		{
			name:  "applied row inserted for 0003",
			setup: []string{"up --to 0002_orders"},
			forge: `INSERT INTO ledger.applied (id, num, name, checksum, seq, applied_at, app_version, actor, host, transactional)
				SELECT '0003_status', 3, 'status', checksum, seq, applied_at, app_version, actor, host, true FROM ledger.applied WHERE id = '0002_orders'`,
			want: all5, reason: "applied rows add up to digest",
		},
		{
			// With nothing pending, check's one-row read finds the head
			// equal to its release and the newest event, which the forgery
			// leaves alone: it says run, and so does an up with nothing to
			// do, which answers from the same read and writes nothing.
			// Every reader of the projection refuses (README: Integrity).
			name:  "applied row edited, nothing pending",
			setup: []string{"up"},
			forge: `UPDATE ledger.applied SET checksum = 'forged' WHERE id = '0001_accounts'`,
			want:  verdicts{0, 5, 0, 5, 5}, reason: "applied rows add up to digest",
		},
		{
			name:  "in_doubt row inserted, nothing pending",
			setup: []string{"up"},
			forge: `INSERT INTO ledger.in_doubt (id, checksum, seq, started_at, app_version, actor, host) VALUES ('0004_x', 'x', 1, now(), '', 'x', 'x')`,
			want:  verdicts{0, 5, 0, 5, 5}, reason: "in doubt",
		},
		{
			name:  "newest event's payload edited",
			setup: []string{"up --to 0002_orders"},
			forge: `UPDATE ledger.events SET payload = jsonb_set(payload, '{objects}', '1') WHERE seq = (SELECT max(seq) FROM ledger.events)`,
			want:  all5, reason: "does not match its hash",
		},
		{
			name:  "newest event deleted, head rewritten to its predecessor",
			setup: []string{"up --to 0002_orders"},
			forge: `DELETE FROM ledger.events WHERE seq = (SELECT max(seq) FROM ledger.events);
				UPDATE ledger.head SET seq = seq - 1, hash = (SELECT hash FROM ledger.events ORDER BY seq DESC LIMIT 1)`,
			want: all5, reason: "fingerprint was recorded at seq 4, after the head's seq 3",
		},
		{
			name:  "middle event's payload edited",
			setup: []string{"up --to 0002_orders"},
			forge: `UPDATE ledger.events SET payload = jsonb_set(payload, '{checksum}', '"forged"') WHERE seq = 2`,
			want:  verdicts{3, 0, 0, 5, 4},
		},
		{
			name:  "middle event deleted",
			setup: []string{"up --to 0002_orders"},
			forge: `DELETE FROM ledger.events WHERE seq = 2`,
			want:  verdicts{3, 0, 0, 5, 4},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			d := dir
			if c.dir != "" {
				d = c.dir
			}
			for _, s := range c.setup {
				ledgerCLI(t, url, append([]string{"--dir", d}, strings.Fields(s)...)...)
			}
			forgeSQL(t, url, c.forge)
			events := queryInt(t, url, "SELECT count(*) FROM ledger.events")

			var got verdicts
			var out, errOut string
			got.check, out, errOut = ledgerCLI(t, url, "--dir", d, "check")
			checkOut := out + errOut
			got.status, out, errOut = ledgerCLI(t, url, "--dir", d, "status")
			statusOut := out + errOut
			// up --to 0002 applies nothing in a sound ledger: what it says
			// is about the ledger, not about a migration.
			got.up, out, errOut = ledgerCLI(t, url, "--dir", d, "up", "--to", "0002_orders")
			upOut := out + errOut
			got.verify, out, errOut = ledgerCLI(t, url, "--dir", d, "verify")
			verifyOut := out + errOut
			// down validates under the lock before it plans: a ledger that
			// does not check out is refused (5) before "no down file" (4).
			got.down, out, errOut = ledgerCLI(t, url, "--dir", d, "down", "--steps", "1")
			downOut := out + errOut
			if got != c.want {
				t.Errorf("exit codes (check, status, up, verify, down) = %+v, want %+v\ncheck: %s\nstatus: %s\nup: %s\nverify: %s\ndown: %s", got, c.want, checkOut, statusOut, upOut, verifyOut, downOut)
			}
			if c.reason != "" {
				for name, o := range map[string]string{"check": checkOut, "status": statusOut, "up": upOut, "down": downOut} {
					if name == "check" && c.want.check == 0 || name == "up" && c.want.up == 0 {
						continue // it says run: it read no projection
					}
					if !strings.Contains(o, c.reason) || !strings.Contains(o, "ledger verify") {
						t.Errorf("%s does not say %q and `ledger verify`:\n%s", name, c.reason, o)
					}
				}
			}
			if c.dir == inDoubtDir {
				// resolve validates under the lock too.
				code, out, errOut := ledgerCLI(t, url, "--dir", d, "resolve", "0003_backfill", "--failed", "--reason", "r")
				if code != 5 || !strings.Contains(out+errOut, c.reason) {
					t.Errorf("resolve on the tampered ledger: exit %d\n%s%s", code, out, errOut)
				}
			}
			if n := queryInt(t, url, "SELECT count(*) FROM ledger.events"); n != events {
				t.Errorf("the readers appended to a tampered ledger: %d events, then %d", events, n)
			}
		})
	}
}

// failingWriter fails every write, as a closed pipe or a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// Issue 11, bug 6: verify --json whose output cannot be written exits 1
// with the reason, not 0.
func TestVerifyJSONWriteErrorExits1(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, tamperSet)
	mustCLI(t, url, "--dir", dir, "up")
	var errOut strings.Builder
	code := runWith(context.Background(), []string{"--dir", dir, "--json", "verify"}, failingWriter{}, &errOut, func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	})
	if code != 1 || !strings.Contains(errOut.String(), "no space left on device") {
		t.Fatalf("verify --json to a failing stdout: exit %d, stderr %q; want exit 1 naming the write error", code, errOut.String())
	}
}

// Issue 11, bug 6: when the projection cannot be read (here: a forged
// head), verify still checks the files — against the fold of the events —
// and says why the schema was not compared, instead of skipping both.
func TestVerifyChecksFilesWhenTheProjectionIsBroken(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, tamperSet)
	mustCLI(t, url, "--dir", dir, "up")
	forgeSQL(t, url, `UPDATE ledger.head SET digest = sha256('x')`)
	edited := writeDir(t, map[string]string{
		"0001_accounts.up.sql": tamperSet["0001_accounts.up.sql"],
		"0002_orders.up.sql":   "CREATE TABLE orders (id bigint PRIMARY KEY, note text);",
		"0003_status.up.sql":   tamperSet["0003_status.up.sql"],
	})
	code, out, errOut := ledgerCLI(t, url, "--dir", edited, "verify")
	if code != 5 || !strings.Contains(out, "file changed: ") || !strings.Contains(out, "0002_orders.up.sql") ||
		!strings.Contains(out, "schema not compared: ") {
		t.Fatalf("verify: exit %d\n%s%s\nwant exit 5, the changed file named and the schema's reason", code, out, errOut)
	}
}

// verify exits 5 with a migration in doubt, naming it (the README's table).
func TestVerifyInDoubtExits5(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{
		"0001_accounts.up.sql": tamperSet["0001_accounts.up.sql"],
		"0002_backfill.up.sql": "-- ledger:no-transaction\nINSERT INTO accounts VALUES (1);\nSELECT 1/0;\n",
	})
	ledgerCLI(t, url, "--dir", dir, "up")
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "verify")
	if code != 5 || !strings.Contains(out, "in doubt: 0002_backfill started ") {
		t.Fatalf("verify with a migration in doubt: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = ledgerCLI(t, url, "--dir", dir, "--json", "verify")
	if code != 5 || !strings.Contains(out, `"in_doubt": [`) || !strings.Contains(out, `"ok": false`) {
		t.Fatalf("verify --json with a migration in doubt: exit %d\n%s", code, out)
	}
	mustCLI(t, url, "--dir", dir, "resolve", "0002_backfill", "--failed", "--reason", "checked by hand")
	if code, out, errOut := ledgerCLI(t, url, "--dir", dir, "verify"); code != 0 {
		t.Fatalf("verify after resolve: exit %d\n%s%s", code, out, errOut)
	}
}

// checkpoint prints SEQ:HASH; verify --expect-head proves the ledger still
// holds it, and catches the history a superuser re-chained inside the
// database, which check, status, up and a plain verify cannot see.
func TestCheckpointAndExpectHead(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, tamperSet)
	mustCLI(t, url, "--dir", dir, "up", "--to", "0002_orders")
	anchor := strings.TrimSpace(mustCLI(t, url, "checkpoint"))
	if !regexp.MustCompile(`^[0-9]+:[0-9a-f]{64}$`).MatchString(anchor) {
		t.Fatalf("checkpoint printed %q, want SEQ:HASH", anchor)
	}
	var js struct {
		Seq        int64  `json:"seq"`
		Hash       string `json:"hash"`
		Checkpoint string `json:"checkpoint"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, url, "--json", "checkpoint")), &js); err != nil || js.Checkpoint != anchor || fmt.Sprintf("%d:%s", js.Seq, js.Hash) != anchor {
		t.Fatalf("checkpoint --json: %+v %v, want %s", js, err, anchor)
	}
	mustCLI(t, url, "--dir", dir, "up")
	mustCLI(t, url, "--dir", dir, "verify", "--expect-head", anchor)

	// A superuser edits history and re-chains it with the ledger's own function.
	forgeSQL(t, url, `UPDATE ledger.events SET host = 'elsewhere' WHERE seq = 1`)
	forgeSQL(t, url, rechainSQL)
	for _, args := range [][]string{{"check"}, {"status"}, {"verify"}} {
		if code, out, errOut := ledgerCLI(t, url, append([]string{"--dir", dir}, args...)...); code != 0 {
			t.Errorf("%v on the re-chained ledger: exit %d (it cannot see it)\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "verify", "--expect-head", anchor)
	if code != 5 || !strings.Contains(out, "checkpoint "+anchor+": the event at seq") || !strings.Contains(out, "rewritten or re-chained") {
		t.Fatalf("verify --expect-head on the re-chained ledger: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := ledgerCLI(t, url, "--dir", dir, "verify", "--expect-head", "12:zz"); code != 2 || !strings.Contains(errOut, "--expect-head") {
		t.Fatalf("verify --expect-head 12:zz: exit %d, %s", code, errOut)
	}
}
