package fleet

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/ledger"
)

// What a connection to a target costs is mostly the server's: a backend
// started for it (a fork, its catalog caches built from nothing). A
// rollout over a thousand databases pays that a thousand times, so it
// spends no more backends and round trips per target than the target's
// check needs.

// plainServers remembers the servers that answered a TLS request with
// "no": with sslmode=prefer (libpq's default, and pgx's when the URL says
// nothing), pgx asks for TLS on a connection of its own and, refused,
// dials again without it — two backends started per target. The answer
// depends on the server alone (its ssl setting; the request precedes the
// database and user, so pg_hba plays no part), so once a server refused,
// later targets on it connect without asking: what prefer ends in anyway.
// Safe for concurrent use.
type plainServers struct{ m sync.Map } // host:port -> struct{}

// sslRequest is the message pgx sends to ask for TLS (length 8, code 80877103).
var sslRequest = []byte{0, 0, 0, 8, 4, 210, 22, 47}

// configure adapts cfg, the connection config of a target on server, to
// what is known of that server: a prefer config on a server that refused
// TLS connects without it; one on a server not yet known watches the
// server's answer.
func (p *plainServers) configure(cfg *pgconn.Config, server string) {
	if !preferOneHost(cfg) {
		return
	}
	if _, refused := p.m.Load(server); refused {
		cfg.TLSConfig, cfg.Fallbacks = nil, nil
		return
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &tlsAnswer{Conn: c, refused: func() { p.m.Store(server, struct{}{}) }}, nil
	}
}

// preferOneHost: cfg is sslmode=prefer on one host — TLS first, then the
// same host and port without it, and nothing else.
func preferOneHost(cfg *pgconn.Config) bool {
	if cfg.TLSConfig == nil || len(cfg.Fallbacks) != 1 {
		return false
	}
	fb := cfg.Fallbacks[0]
	return fb.TLSConfig == nil && fb.Host == cfg.Host && fb.Port == cfg.Port
}

// tlsAnswer is a connection that notes the server's answer when the first
// thing written on it is the TLS request: 'N' is a refusal.
type tlsAnswer struct {
	net.Conn
	asked   atomic.Int32 // 0: nothing written yet; 1: the TLS request; 2: anything else
	read    atomic.Bool
	refused func()
}

func (c *tlsAnswer) Write(b []byte) (int, error) {
	if c.asked.Load() == 0 {
		if bytes.Equal(b, sslRequest) {
			c.asked.Store(1)
		} else {
			c.asked.Store(2)
		}
	}
	return c.Conn.Write(b)
}

func (c *tlsAnswer) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.read.Swap(true) && c.asked.Load() == 1 && b[0] == 'N' {
		c.refused()
	}
	return n, err
}

// oneTrip reads through db in single round trips: each query goes as the
// extended protocol's unnamed statement (parse, bind, execute in one
// message train) instead of being prepared first, which costs a round
// trip and a named statement the target's short session never reuses.
// Its results come in the text format: a value pgx cannot read back from
// it (a DateStyle other than ISO, bytea_output = escape) fails the read,
// or the head's check against its newest event, and the target goes the
// runner's way — slower, never wrong.
type oneTrip struct{ ledger.DB }

func (d oneTrip) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return d.DB.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}

func (d oneTrip) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return d.DB.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}
