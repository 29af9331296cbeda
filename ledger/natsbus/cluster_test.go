package natsbus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// Bug 7 (no replicas) and production NATS: on a 3-node JetStream cluster
// the relay keeps the stream on 3 servers (--replicas 3); a node killed
// mid-stream and then the stream's leader killed lose, duplicate and
// reorder nothing, and the stream still equals the chain (what
// verify --nats compares).
func TestReplicatedStreamSurvivesANodeAndItsLeader(t *testing.T) {
	cl := natstest.StartCluster(t, 3)
	st, pool, _ := newLedger(t, 4)
	names := natsbus.NamesFor("r3")
	_, js := natstest.Connect(t, cl.URL())
	r := startRelay(t, js, st, pool, natsbus.WithNames(names), natsbus.WithReplicas(3), natsbus.WithAckWait(2*time.Second))

	ctx, stopWriting := context.WithCancel(context.Background())
	written := make(chan int)
	go func() {
		n := 0
		for ctx.Err() == nil {
			appendTx(t, st, pool, churn(t, 1, n, 2)...)
			n += 2
			time.Sleep(5 * time.Millisecond)
		}
		written <- n
	}()
	leader := func() string {
		var name string
		waitFor(t, 30*time.Second, "a stream leader", func() (bool, string) {
			c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := js.Stream(c, names.Stream)
			if err != nil {
				return false, err.Error()
			}
			info, err := s.Info(c)
			if err != nil {
				return false, err.Error()
			}
			if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" {
				return false, "no leader yet"
			}
			name = info.Cluster.Leader
			return true, ""
		})
		return name
	}
	time.Sleep(time.Second)
	first := leader()
	var follower *natstest.Server
	for _, name := range []string{"n1", "n2", "n3"} {
		if name != first {
			follower = cl.Node(name)
			break
		}
	}
	follower.Stop() // a node killed mid-stream
	time.Sleep(time.Second)
	follower.Restart()
	time.Sleep(2 * time.Second) // it catches up
	lead := cl.Node(leader())
	lead.Stop() // then the stream's leader
	time.Sleep(2 * time.Second)
	lead.Restart()
	time.Sleep(time.Second)
	stopWriting()
	if n := <-written; n < 100 {
		t.Fatalf("only %d events appended during the failures", n)
	}
	head, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, js, names.Stream, head.Seq, time.Minute)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkStream(t, js, names, st)
	t.Logf("relay: %+v", r.relay.Stats())
}

// Replicas a single server cannot keep: a clear error, not a retry loop.
func TestReplicasWithoutAClusterIsAClearError(t *testing.T) {
	srv := natstest.Start(t)
	st, pool, _ := newLedger(t, 2)
	_, js := natstest.Connect(t, srv.URL())
	r := startRelay(t, js, st, pool, natsbus.WithNames(natsbus.NamesFor("r3solo")), natsbus.WithReplicas(3))
	if !r.wait(20 * time.Second) {
		t.Fatal("the relay kept retrying replicas a single server cannot keep")
	}
	if !errors.Is(r.err, natsbus.ErrStreamConfig) {
		t.Fatalf("Run: %v; want ErrStreamConfig", r.err)
	}
	t.Log(r.err)
}
