package natsbus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ErrConnectConfig: connecting to NATS cannot succeed however long one
// waits — a malformed URL, an unreadable or malformed credentials or TLS
// file, credentials or a certificate the server refuses.
var ErrConnectConfig = errors.New("NATS connection misconfigured")

// ConnectError says what is wrong with connecting to NATS. Field names
// the setting at fault (url, creds, ca, cert, key, auth, tls).
type ConnectError struct {
	Server string // redacted
	Field  string
	Reason string
}

func (e *ConnectError) Error() string {
	if e.Server != "" {
		return fmt.Sprintf("NATS at %s: %s", e.Server, e.Reason)
	}
	return "NATS: " + e.Reason
}

func (e *ConnectError) Unwrap() error { return ErrConnectConfig }

// ConnectOptions are how to reach NATS.
type ConnectOptions struct {
	// Servers is a comma-separated list of nats://, tls://, ws:// or wss://
	// URLs (a bare host:port means nats://); a nats://user:password@ URL
	// carries credentials (never printed).
	Servers string
	Name    string // the client's name, as the server shows it
	// CredsFile is a .creds file (JWT and NKey seed, as nsc writes it).
	CredsFile string
	// CAFile verifies the server against a private CA; CertFile and
	// KeyFile are the client's certificate (mutual TLS). Any of them makes
	// the connection TLS.
	CAFile, CertFile, KeyFile string
	Logger                    *slog.Logger  // connection events (default: none)
	RetryWait                 time.Duration // between attempts while no server answers (default 1s)
}

// ParseServers checks a comma-separated server list and returns it with
// each bare host:port written as nats://host:port.
func ParseServers(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nats.DefaultURL, nil
	}
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "nats://" + part
		}
		bad := func(format string, args ...any) (string, error) {
			return "", &ConnectError{Field: "url", Reason: fmt.Sprintf("%q: ", RedactURL(part)) + fmt.Sprintf(format, args...)}
		}
		u, err := url.Parse(part)
		if err != nil {
			return bad("not a URL")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return bad("scheme %q; want nats://, tls://, ws:// or wss://", u.Scheme)
		}
		if u.Hostname() == "" {
			return bad("no host; want e.g. nats://127.0.0.1:4222")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return bad("port %s is not a port (1-65535)", p)
			}
		}
		out = append(out, part)
	}
	return strings.Join(out, ","), nil
}

// options checks the files and builds the client options.
func (o ConnectOptions) options(servers string) ([]nats.Option, error) {
	shown := RedactURL(servers)
	opts := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if o.CredsFile != "" {
		data, err := os.ReadFile(o.CredsFile)
		if err != nil {
			return nil, &ConnectError{Server: shown, Field: "creds", Reason: fmt.Sprintf("credentials file: %v", err)}
		}
		if _, err := nkeys.ParseDecoratedJWT(data); err != nil || !strings.Contains(string(data), "BEGIN NATS USER JWT") {
			return nil, &ConnectError{Server: shown, Field: "creds", Reason: fmt.Sprintf("credentials file %s holds no user JWT (want the .creds file nsc writes)", o.CredsFile)}
		}
		if _, err := nkeys.ParseDecoratedUserNKey(data); err != nil {
			return nil, &ConnectError{Server: shown, Field: "creds", Reason: fmt.Sprintf("credentials file %s: its NKey seed: %v", o.CredsFile, err)}
		}
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, &ConnectError{Server: shown, Field: "cert", Reason: "a client certificate needs both its certificate and its key file"}
	}
	if o.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile); err != nil {
			return nil, &ConnectError{Server: shown, Field: "cert", Reason: fmt.Sprintf("client certificate %s with key %s: %v", o.CertFile, o.KeyFile, err)}
		}
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &ConnectError{Server: shown, Field: "ca", Reason: fmt.Sprintf("CA file: %v", err)}
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, &ConnectError{Server: shown, Field: "ca", Reason: fmt.Sprintf("CA file %s holds no PEM certificate", o.CAFile)}
		}
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	return opts, nil
}

// permanent reports whether a connect error cannot pass by waiting.
func permanent(err error) (field string, ok bool) {
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return "auth", true
	case errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted):
		return "tls", true
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return "tls", true
	}
	msg := err.Error()
	if strings.Contains(msg, "Authorization Violation") || strings.Contains(msg, "authorization violation") {
		return "auth", true
	}
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") {
		return "tls", true
	}
	return "", false
}

// Connect connects to NATS, waiting (retrying every RetryWait, logging
// why) while no server answers, and reconnecting forever once connected.
// What waiting cannot fix — a malformed URL, an unreadable or malformed
// credentials or TLS file, credentials or a certificate the server
// refuses — is a *ConnectError at once. It returns ctx's error if ctx
// ends first.
func Connect(ctx context.Context, o ConnectOptions) (*nats.Conn, error) {
	servers, err := ParseServers(o.Servers)
	if err != nil {
		return nil, err
	}
	opts, err := o.options(servers)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	shown := RedactURL(servers)
	opts = append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected; reconnecting", "server", shown, "err", redact(err, servers))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats: reconnected", "server", RedactURL(nc.ConnectedUrl()))
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Error("nats: connection closed", "server", shown, "err", redact(err, servers))
			}
		}),
	)
	wait := o.RetryWait
	if wait <= 0 {
		wait = time.Second
	}
	for {
		nc, err := nats.Connect(servers, opts...)
		if err == nil {
			log.Info("nats: connected", "server", RedactURL(nc.ConnectedUrl()))
			return nc, nil
		}
		if field, ok := permanent(err); ok {
			what := map[string]string{"auth": "the server refused the credentials", "tls": "TLS failed"}[field]
			return nil, &ConnectError{Server: shown, Field: field, Reason: what + ": " + redact(err, servers)}
		}
		var netErr net.Error
		if !errors.Is(err, nats.ErrNoServers) && !errors.As(err, &netErr) && !errors.Is(err, nats.ErrTimeout) {
			log.Warn("nats: cannot connect; retrying", "server", shown, "err", redact(err, servers))
		} else {
			log.Warn("nats: cannot reach the server; retrying until it is there", "server", shown, "err", redact(err, servers), "retry_in", wait.String())
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// closedError: the connection was closed for good (the server refused the
// credentials again on a reconnect); Run stops with it.
func closedError(nc *nats.Conn) error {
	reason := "the connection was closed"
	if err := nc.LastError(); err != nil {
		reason += ": " + err.Error()
	}
	return &ConnectError{Server: RedactURL(strings.Join(nc.Servers(), ",")), Field: "auth", Reason: reason}
}

// redact removes the passwords of the URLs in servers from an error message.
func redact(err error, servers string) string {
	msg := err.Error()
	for _, raw := range strings.Split(servers, ",") {
		if u, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && u.User != nil {
			if pass, ok := u.User.Password(); ok && pass != "" {
				msg = strings.ReplaceAll(msg, pass, "xxxxx")
			}
		}
	}
	return msg
}
