package migrations

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// ManifestFormat is the manifest format this binary writes and reads.
const ManifestFormat = 1

// Manifest is a release: its app version, the policy it runs under, and
// every migration it ships (id, checksum, transactional flag, compatible
// constraint), with two digests — SetDigest, the applied-set digest the
// ledger's head holds once exactly these migrations are applied, and
// Digest, sha256 over the whole manifest. A server embeds its manifest (or
// the CLI reads one file) instead of reading and hashing every migration
// file at startup. A Manifest is a value: safe for concurrent use.
type Manifest struct {
	Format     int                 `json:"manifest_format"`
	AppVersion string              `json:"app_version"`
	Policy     string              `json:"policy"`
	SetDigest  projector.Digest    `json:"set_digest"`
	Migrations []ManifestMigration `json:"migrations"`
	Digest     string              `json:"digest"` // "sha256:<hex>" over the manifest with Digest empty
}

// ManifestMigration is one migration of a release.
type ManifestMigration struct {
	ID            string `json:"id"`
	Checksum      string `json:"checksum"`
	Transactional bool   `json:"transactional"`
	Compatible    string `json:"compatible,omitempty"`
}

// ManifestError is a manifest that cannot be used: malformed, edited by
// hand (its digest no longer matches), or in a newer format.
type ManifestError struct {
	Source string // the file, or "manifest"
	Msg    string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("%s: %s", e.Source, e.Msg)
}

// NewManifest describes set as the release appVersion running under p.
func NewManifest(set *Set, appVersion string, p policy.Policy) (Manifest, error) {
	if _, err := policy.ParseAppVersion(appVersion); err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: ManifestFormat, AppVersion: appVersion, Policy: p.String(), Migrations: make([]ManifestMigration, len(set.Migrations))}
	for i, mig := range set.Migrations {
		m.Migrations[i] = ManifestMigration{ID: mig.ID, Checksum: mig.Checksum, Transactional: mig.Transactional(), Compatible: mig.Compatible}
	}
	m.SetDigest = set.Digest()
	m.Digest = m.computeDigest()
	return m, nil
}

// computeDigest is sha256 over the manifest's JSON with Digest empty: the
// encoding of a Go struct is deterministic, so a reader recomputes it.
func (m Manifest) computeDigest() string {
	m.Digest = ""
	b, err := json.Marshal(m)
	if err != nil { // a struct of strings, bools and a TextMarshaler cannot fail
		panic(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Marshal is the manifest as written to a file: indented JSON, one line per
// field, so a release's manifest reads well in a diff.
func (m Manifest) Marshal() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// ParseManifest reads a manifest (e.g. one embedded with go:embed) and
// checks it whole: its format, its digest, every id, checksum and
// constraint, the app version, the policy and the set digest.
func ParseManifest(data []byte) (Manifest, error) { return parseManifest(data, "manifest") }

// ReadManifestFile reads and checks the manifest in file.
func ReadManifestFile(file string) (Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	return parseManifest(data, file)
}

func parseManifest(data []byte, source string) (Manifest, error) {
	bad := func(format string, args ...any) (Manifest, error) {
		return Manifest{}, &ManifestError{Source: source, Msg: fmt.Sprintf(format, args...)}
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var probe struct {
			Format int `json:"manifest_format"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.Format > ManifestFormat {
			return bad("manifest format %d is newer than this binary understands (%d); use a newer ledger", probe.Format, ManifestFormat)
		}
		return bad("not a ledger manifest: %v (write one with: ledger manifest --dir DIR --app-version X -o FILE)", err)
	}
	switch {
	case m.Format > ManifestFormat:
		return bad("manifest format %d is newer than this binary understands (%d); use a newer ledger", m.Format, ManifestFormat)
	case m.Format < 1:
		return bad("manifest_format %d: want %d", m.Format, ManifestFormat)
	}
	if got := m.computeDigest(); m.Digest != got {
		return bad("digest %s does not match its content (%s): the manifest was edited or truncated; regenerate it with ledger manifest", m.Digest, got)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, &ManifestError{Source: source, Msg: err.Error()}
	}
	return m, nil
}

// validate checks what the digest cannot: that the content is meaningful.
func (m Manifest) validate() error {
	var errs []error
	if _, err := policy.ParseAppVersion(m.AppVersion); err != nil {
		errs = append(errs, err)
	}
	if _, err := policy.Parse(m.Policy); err != nil {
		errs = append(errs, err)
	}
	var d projector.Digest
	prev := ""
	for _, mig := range m.Migrations {
		if _, _, err := projector.ParseID(mig.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		if prev != "" && projector.CompareIDs(prev, mig.ID) >= 0 {
			errs = append(errs, fmt.Errorf("migration %s is listed after %s: a manifest lists each migration once, in order", mig.ID, prev))
		}
		prev = mig.ID
		if b, err := hex.DecodeString(mig.Checksum); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("migration %s: checksum %q is not a sha256 in hex", mig.ID, mig.Checksum))
		}
		if mig.Compatible != "" {
			if _, err := semver.NewConstraint(mig.Compatible); err != nil {
				errs = append(errs, fmt.Errorf("migration %s: compatible %q: %v", mig.ID, mig.Compatible, err))
			}
		}
		d = d.Add(mig.ID, mig.Checksum)
	}
	if d != m.SetDigest {
		errs = append(errs, fmt.Errorf("set_digest %s is not the digest of the migrations listed (%s)", m.SetDigest, d))
	}
	return errors.Join(errs...)
}

// Known is the release as the policy sees it.
func (m Manifest) Known() policy.Manifest {
	known := policy.Manifest{AppVersion: m.AppVersion, Migrations: make([]policy.Known, len(m.Migrations))}
	for i, mig := range m.Migrations {
		known.Migrations[i] = policy.Known{ID: mig.ID, Checksum: mig.Checksum}
	}
	return known
}

// PolicyValue is the manifest's policy, parsed (strict if the manifest has none).
func (m Manifest) PolicyValue() policy.Policy {
	p, err := policy.Parse(m.Policy)
	if err != nil {
		return policy.Strict
	}
	return p
}

// Diff lists every way set differs from the manifest (empty: the manifest
// describes set exactly). It is what proves in CI that a committed
// manifest matches its directory.
func (m Manifest) Diff(set *Set) []string {
	var diffs []string
	listed := make(map[string]ManifestMigration, len(m.Migrations))
	for _, mig := range m.Migrations {
		listed[mig.ID] = mig
	}
	for _, mig := range set.Migrations {
		want, ok := listed[mig.ID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s is in the directory but not in the manifest", mig.ID))
			continue
		}
		delete(listed, mig.ID)
		if want.Checksum != mig.Checksum {
			diffs = append(diffs, fmt.Sprintf("%s: the file's checksum is %s, the manifest says %s", mig.ID, short(mig.Checksum), short(want.Checksum)))
		}
		if want.Transactional != mig.Transactional() {
			diffs = append(diffs, fmt.Sprintf("%s: the file is transactional=%t, the manifest says %t", mig.ID, mig.Transactional(), want.Transactional))
		}
		if want.Compatible != mig.Compatible {
			diffs = append(diffs, fmt.Sprintf("%s: the file says compatible %q, the manifest %q", mig.ID, mig.Compatible, want.Compatible))
		}
	}
	for _, mig := range m.Migrations {
		if _, ok := listed[mig.ID]; ok {
			diffs = append(diffs, fmt.Sprintf("%s is in the manifest but not in the directory", mig.ID))
		}
	}
	return diffs
}

// String names the release: "1.3.0 (compatible, 12 migrations)".
func (m Manifest) String() string {
	return fmt.Sprintf("%s (%s, %d migrations)", m.AppVersion, m.Policy, len(m.Migrations))
}

// NewReleaseChecker prepares the checks of the release m — its app version
// and policy are the manifest's, unless opts say otherwise. Like
// NewManifestChecker it reads through db and cannot auto-migrate.
func NewReleaseChecker(db ledger.DB, m Manifest, opts ...Option) (*Checker, error) {
	base := []Option{WithAppVersion(m.AppVersion), WithPolicy(m.PolicyValue())}
	c, err := NewManifestChecker(db, m.Known().Migrations, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	c.release = &m
	return c, nil
}

// CheckManifest is Check for a release known by its manifest (e.g. one
// embedded in the server's binary): no migration file is read.
//
//	//go:embed release.json
//	var release []byte
//
//	m, err := migrations.ParseManifest(release)
//	...
//	verdict, err := migrations.CheckManifest(ctx, pool, m)
func CheckManifest(ctx context.Context, db ledger.DB, m Manifest, opts ...Option) (policy.Verdict, error) {
	c, err := NewReleaseChecker(db, m, opts...)
	if err != nil {
		return policy.Verdict{}, err
	}
	return c.Check(ctx)
}
