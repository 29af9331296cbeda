package fleet

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// connectCounting connects with cfg as plainServers leaves it for server,
// counting the connections dialled; it says whether the session is TLS.
func connectCounting(t *testing.T, p *plainServers, url string) (dials int32, isTLS bool) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return dial(ctx, network, addr)
	}
	p.configure(cfg, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	conn, err := pgconn.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	_, isTLS = conn.Conn().(*tls.Conn)
	return n.Load(), isTLS
}

// On a server without TLS (ssl = off), sslmode=prefer costs two
// connections — the refused TLS attempt and the plain one — for the first
// target only; the next connect without asking.
func TestPreferOnAServerThatRefusesTLS(t *testing.T) {
	c := pgtest.NewCluster(t)
	url := c.URL("postgres")
	url = url[:len(url)-len("?sslmode=disable")] // sslmode unset: prefer
	var p plainServers
	if dials, isTLS := connectCounting(t, &p, url); dials != 2 || isTLS {
		t.Fatalf("first connection: %d dials (TLS %v), want 2 (the refused TLS attempt, then plain)", dials, isTLS)
	}
	for i := range 3 {
		if dials, isTLS := connectCounting(t, &p, url); dials != 1 || isTLS {
			t.Fatalf("connection %d after the refusal: %d dials (TLS %v), want 1, plain", i+2, dials, isTLS)
		}
	}
}

// On a server that does TLS, prefer keeps using it: nothing is remembered.
// (The shared test server may run without TLS; then it is the refusal
// again.)
func TestPreferOnTheSharedServer(t *testing.T) {
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatalf("cannot reach PostgreSQL: %v\n%s", err, pgtest.HowToStart)
	}
	res := conn.ExecParams(ctx, "SELECT current_setting('ssl')", nil, nil, nil, nil).Read()
	_ = conn.Close(ctx)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	ssl := string(res.Rows[0][0]) == "on"
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", "prefer")
	u.RawQuery = q.Encode()
	var p plainServers
	for i := range 3 {
		wantDials := int32(1)
		if !ssl && i == 0 {
			wantDials = 2
		}
		if dials, isTLS := connectCounting(t, &p, u.String()); dials != wantDials || isTLS != ssl {
			t.Fatalf("server with ssl %v, connection %d: %d dials (TLS %v), want %d", ssl, i+1, dials, isTLS, wantDials)
		}
	}
}

// Only prefer on one host is adapted: disable, require, verify-full and
// several hosts are left as they are, even on a server known to refuse.
func TestPreferOnlyOneHostIsAdapted(t *testing.T) {
	for _, tc := range []struct {
		url   string
		adapt bool
	}{
		{"postgres://u@db1:5432/x", true},
		{"postgres://u@db1:5432/x?sslmode=prefer", true},
		{"postgres://u@db1:5432/x?sslmode=disable", false},
		{"postgres://u@db1:5432/x?sslmode=allow", false},
		{"postgres://u@db1:5432/x?sslmode=require", false},
		{"postgres://u@db1:5432/x?sslmode=verify-full", false},
		{"postgres://u@db1:5432,db2:5432/x?sslmode=prefer", false},
	} {
		cfg, err := pgconn.ParseConfig(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		var p plainServers
		p.m.Store("db1:5432", struct{}{})
		tlsBefore, fallbacks := cfg.TLSConfig, len(cfg.Fallbacks)
		p.configure(cfg, "db1:5432")
		adapted := cfg.TLSConfig == nil && len(cfg.Fallbacks) == 0 && tlsBefore != nil
		if adapted != tc.adapt {
			t.Errorf("%s: adapted = %v (TLS %v -> %v, %d -> %d fallbacks), want %v", tc.url, adapted, tlsBefore != nil, cfg.TLSConfig != nil, fallbacks, len(cfg.Fallbacks), tc.adapt)
		}
	}
}
