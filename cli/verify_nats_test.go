package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// relayOnce runs a relay until the stream holds the ledger's head.
func relayOnce(t *testing.T, natsURL, dbURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	h, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, js := natstest.Connect(t, natsURL)
	r, err := natsbus.NewRelay(js, store, pool, natsbus.WithNames(natsbus.NamesFor(name)), natsbus.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	for r.Stats().StreamSeq < h.Seq {
		if ctx.Err() != nil {
			stop()
			t.Fatalf("the relay did not publish up to seq %d: %+v", h.Seq, r.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && rctx.Err() == nil {
		t.Fatal(err)
	}
}

// verify --nats compares the chain with the copy the relay published, and
// catches what no check inside the database can: a re-chained history and a
// cut tail.
func TestVerifyNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	dir := writeDir(t, tamperSet)
	for _, c := range []struct{ name, forge, want string }{
		{"re-chained", `UPDATE ledger.events SET host = 'elsewhere' WHERE seq = 1;` + rechainSQL, "seq 1: the database has hash "},
		{"cut tail", `DELETE FROM ledger.events WHERE seq = (SELECT max(seq) FROM ledger.events);
			UPDATE ledger.head SET seq = seq - 1, hash = (SELECT hash FROM ledger.events ORDER BY seq DESC LIMIT 1),
				fingerprint = NULL, fingerprint_objects = NULL, fingerprint_seq = NULL`, "the database's chain ends at seq"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			mustCLI(t, url, "--dir", dir, "up", "--to", "0002_orders")
			relayOnce(t, srv.URL(), url, "v_"+strings.ReplaceAll(c.name, " ", "_"))
			name := "v_" + strings.ReplaceAll(c.name, " ", "_")
			// The relay is behind: not a divergence.
			mustCLI(t, url, "--dir", dir, "up")
			out := mustCLI(t, url, "--dir", dir, "verify", "--nats", srv.URL(), "--name", name)
			if !strings.Contains(out, "ok: stream LEDGER_"+name+" holds the database's events 1..") || !strings.Contains(out, "the relay has not published") {
				t.Fatalf("verify --nats of an intact ledger:\n%s", out)
			}
			relayOnce(t, srv.URL(), url, name)
			mustCLI(t, url, "--dir", dir, "verify", "--nats", srv.URL(), "--name", name)

			forgeSQL(t, url, c.forge)
			if code, out, errOut := ledgerCLI(t, url, "--dir", dir, "verify"); code != 0 && c.name == "re-chained" {
				t.Fatalf("verify without --nats of a re-chained ledger: exit %d (it cannot see it)\n%s%s", code, out, errOut)
			}
			code, out, errOut := ledgerCLI(t, url, "--dir", dir, "verify", "--nats", srv.URL(), "--name", name)
			if code != 5 || !strings.Contains(out, "BROKEN: the database's chain and the stream LEDGER_"+name+" diverge: ") || !strings.Contains(out, c.want) {
				t.Fatalf("verify --nats: exit %d\n%s%s\nwant exit 5 and %q", code, out, errOut, c.want)
			}
			code, out, _ = ledgerCLI(t, url, "--dir", dir, "--json", "verify", "--nats", srv.URL(), "--name", name)
			if code != 5 || !strings.Contains(out, `"divergence": "seq `) {
				t.Fatalf("verify --nats --json: exit %d\n%s", code, out)
			}
		})
	}
	t.Run("no stream", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		mustCLI(t, url, "--dir", dir, "up")
		code, _, errOut := ledgerCLI(t, url, "--dir", dir, "verify", "--nats", srv.URL(), "--name", "nobody")
		if code != 1 || !strings.Contains(errOut, "no stream LEDGER_nobody") {
			t.Fatalf("verify --nats without a stream: exit %d, %s", code, errOut)
		}
	})
}

const rechainSQL = `DO $$
	DECLARE r record; prev bytea := decode(repeat('00', 32), 'hex');
	BEGIN
		FOR r IN SELECT * FROM ledger.events ORDER BY seq LOOP
			UPDATE ledger.events SET prev_hash = prev,
				hash = ledger.event_hash(prev, r.seq, r.id, r.type, r.payload_version, r.payload, r.recorded_at, r.actor, r.host, r.app_version,
				                         r.state_format, r.state_digest, r.state_in_doubt, r.state_schema_version)
			WHERE seq = r.seq RETURNING hash INTO prev;
		END LOOP;
		UPDATE ledger.head SET hash = prev;
	END $$`
