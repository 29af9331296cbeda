package natsbus_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// Check-ins reach NATS: the releases seen running against a ledger, with
// their manifests, outside the chain (the stream holds only the events).
func TestRelayPublishesCheckIns(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	st, pool, _ := newLedger(t, 3)
	// A real release's manifest: the ledger stores only one whose bytes
	// hash to the digest they end with.
	set, err := migrations.Load(fstest.MapFS{"0001_a.up.sql": {Data: []byte("CREATE TABLE a (id int);")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrations.NewManifest(set, "1.4.0", policy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutRelease(ctx, ledger.Release{Digest: m.Digest, AppVersion: "1.4.0", Policy: "strict", SetDigest: m.SetDigest, Manifest: m.Marshal()}); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"pod-a", "pod-b"} {
		if _, err := st.CheckIn(ctx, ledger.Sighting{Instance: pod, Host: "node-" + pod, Release: m.Digest, AppVersion: "1.4.0", Policy: "strict", Decision: "run"}); err != nil {
			t.Fatal(err)
		}
	}
	names := natsbus.NamesFor("seen")
	r := startRelay(t, js, st, pool, natsbus.WithNames(names), natsbus.WithSightings(100*time.Millisecond, time.Hour))
	var got natsbus.Sightings
	waitFor(t, 10*time.Second, "the check-ins in the bucket", func() (bool, string) {
		all, err := natsbus.ReadSightings(ctx, js)
		if err != nil {
			return false, err.Error()
		}
		got = all["seen"]
		return len(got.Releases) == 1, ""
	})
	rel := got.Releases[0]
	if got.Ledger != "ledger.seen" || rel.AppVersion != "1.4.0" || rel.Instances != 2 || !rel.Stored || len(rel.IDs) != 1 || rel.IDs[0] != "0001_a" || rel.Checksums[0] != set.Migrations[0].Checksum {
		t.Fatalf("sightings %+v", got)
	}
	waitStream(t, js, names.Stream, 1, 5*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkStream(t, js, names, st) // the chain alone: no check-in in it
}
