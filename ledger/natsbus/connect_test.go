package natsbus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// Bug 5 (silent misconfiguration): what waiting cannot fix fails at once
// with what is wrong; a server that is not there yet is waited for.
func TestConnectFailsOnPermanentErrorsAndWaitsForAServer(t *testing.T) {
	srv := natstest.Start(t, func(o *server.Options) { o.Username, o.Password = "relay", "s3cret" })
	port := strings.TrimPrefix(srv.URL(), "nats://127.0.0.1:")
	dir := t.TempDir()
	badCreds := filepath.Join(dir, "bad.creds")
	if err := os.WriteFile(badCreds, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  natsbus.ConnectOptions
		field string
		want  string
	}{
		{"wrong password", natsbus.ConnectOptions{Servers: "nats://relay:wrong@127.0.0.1:" + port}, "auth", "the server refused the credentials"},
		{"malformed creds", natsbus.ConnectOptions{Servers: srv.URL(), CredsFile: badCreds}, "creds", "holds no user JWT"},
		{"missing creds", natsbus.ConnectOptions{Servers: srv.URL(), CredsFile: filepath.Join(dir, "none.creds")}, "creds", "no such file"},
		{"port 99999", natsbus.ConnectOptions{Servers: "nats://127.0.0.1:99999"}, "url", "port 99999 is not a port"},
		{"scheme", natsbus.ConnectOptions{Servers: "http://127.0.0.1:4222"}, "url", "scheme \"http\""},
		{"CA file", natsbus.ConnectOptions{Servers: srv.URL(), CAFile: badCreds}, "ca", "holds no PEM certificate"},
		{"cert without key", natsbus.ConnectOptions{Servers: srv.URL(), CertFile: badCreds}, "cert", "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			nc, err := natsbus.Connect(ctx, tc.opts)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			var ce *natsbus.ConnectError
			if !errors.As(err, &ce) || !errors.Is(err, natsbus.ErrConnectConfig) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (%T); want a *ConnectError on %s saying %q", err, err, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("the password is in the error: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}

	// The right password to a server that is down: waited for.
	url := "nats://relay:s3cret@127.0.0.1:" + port
	srv.Stop()
	go func() { time.Sleep(1500 * time.Millisecond); srv.Restart() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(ctx, natsbus.ConnectOptions{Servers: url, RetryWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("a server that comes up later: %v", err)
	}
	nc.Close()
}

// TLS with a private CA and a client certificate: connects; without the
// client certificate, or trusting another CA, fails at once.
func TestConnectWithPrivateCAAndClientCertificate(t *testing.T) {
	f := natstest.NewTLS(t)
	srv := natstest.Start(t, f.Server(t))
	url := strings.Replace(srv.URL(), "nats://", "tls://", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(ctx, natsbus.ConnectOptions{Servers: url, CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey})
	if err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.NamesFor("tls")); err != nil {
		t.Fatalf("JetStream over TLS: %v", err)
	}
	nc.Close()
	for name, o := range map[string]natsbus.ConnectOptions{
		"no client certificate": {Servers: url, CAFile: f.CA},
		"another CA":            {Servers: url, CAFile: f.OtherCA, CertFile: f.ClientCert, KeyFile: f.ClientKey},
	} {
		nc, err := natsbus.Connect(ctx, o)
		if err == nil {
			nc.Close()
			t.Fatalf("%s: connected", name)
		}
		if !errors.Is(err, natsbus.ErrConnectConfig) {
			t.Errorf("%s: %v; want ErrConnectConfig at once", name, err)
		}
	}
}
