package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is n embedded nats-servers on loopback forming one JetStream
// cluster (each its own store under t.TempDir()); a node can be stopped
// and started again on its ports with its store.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts n servers clustered on loopback and waits until
// JetStream has a meta leader. They are shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{t: t}
	for i := range n {
		s := &Server{t: t, opts: server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "ledger-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     routes,
		}}
		s.Restart()
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := 0
		for _, s := range c.Nodes {
			s.mu.Lock()
			if s.srv.JetStreamIsClustered() && s.srv.JetStreamIsCurrent() {
				ready++
			}
			s.mu.Unlock()
		}
		if ready == n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d-node JetStream cluster has no meta leader after 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is every node's client URL, comma-separated.
func (c *Cluster) URL() string {
	var urls []string
	for _, s := range c.Nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port))
	}
	return strings.Join(urls, ",")
}

// Node is the node whose server name is name (n1, n2, ...).
func (c *Cluster) Node(name string) *Server {
	for _, s := range c.Nodes {
		if s.opts.ServerName == name {
			return s
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
