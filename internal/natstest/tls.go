package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TLSFiles are a private CA, a server certificate for 127.0.0.1 and a
// client certificate it signed, written as PEM files in a temp dir.
type TLSFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA is a CA that signed none of them.
	OtherCA string
}

// NewTLS makes a CA and the certificates.
func NewTLS(t testing.TB) *TLSFiles {
	t.Helper()
	dir := t.TempDir()
	f := &TLSFiles{}
	caCert, caKey := certificate(t, nil, nil, "ledger test CA", true)
	f.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)
	other, _ := certificate(t, nil, nil, "another CA", true)
	f.OtherCA = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	srv, srvKey := certificate(t, caCert, caKey, "127.0.0.1", false)
	f.ServerCert = writePEM(t, dir, "server.pem", "CERTIFICATE", srv.Raw)
	f.ServerKey = writeKey(t, dir, "server-key.pem", srvKey)
	cli, cliKey := certificate(t, caCert, caKey, "ledger-relay", false)
	f.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cli.Raw)
	f.ClientKey = writeKey(t, dir, "client-key.pem", cliKey)
	return f
}

// Server configures a server for TLS with these files, requiring and
// verifying a client certificate signed by the CA.
func (f *TLSFiles) Server(t testing.TB) func(*server.Options) {
	return func(o *server.Options) {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: f.ServerCert, KeyFile: f.ServerKey, CaFile: f.CA, Verify: true, Timeout: 2})
		if err != nil {
			t.Fatalf("TLS config: %v", err)
		}
		o.TLSConfig, o.TLSVerify, o.TLSTimeout = cfg, true, 2
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
}

func certificate(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}
