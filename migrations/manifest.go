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
	"sync"

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
	Count      int                 `json:"migration_count"`
	Migrations []ManifestMigration `json:"migrations"`
	// Digest is "sha256:<hex>" over the manifest as Marshal writes it with
	// Digest empty: a file that was edited, reformatted or truncated no
	// longer matches it.
	Digest string `json:"digest"`
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
	// Regenerate: the fix is to write the manifest again from the
	// release's files (NewManifest, Manifest.Marshal); see Fixes.
	Regenerate bool
	// Hint says how, in the library's words (Error shows it; Fact, for a
	// caller that words the fix itself, does not).
	Hint string
}

func (e *ManifestError) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Source, e.Msg, e.Hint)
	}
	return e.Fact()
}

// Fact is the error without the library's hint (ledger.Fixer).
func (e *ManifestError) Fact() string { return fmt.Sprintf("%s: %s", e.Source, e.Msg) }

// NewManifest describes set as the release appVersion running under p.
func NewManifest(set *Set, appVersion string, p policy.Policy) (Manifest, error) {
	if _, err := policy.ParseAppVersion(appVersion); err != nil {
		return Manifest{}, err
	}
	return buildManifest(set, appVersion, p), nil
}

// buildManifest is NewManifest without its check of the app version (a
// check-in records whatever release checked in).
func buildManifest(set *Set, appVersion string, p policy.Policy) Manifest {
	m := Manifest{Format: ManifestFormat, AppVersion: appVersion, Policy: p.String(), Migrations: make([]ManifestMigration, len(set.Migrations))}
	for i, mig := range set.Migrations {
		m.Migrations[i] = ManifestMigration{ID: mig.ID, Checksum: mig.Checksum, Transactional: mig.Transactional(), Compatible: mig.Compatible}
	}
	m.SetDigest, m.Count = set.Digest(), len(m.Migrations)
	m.Digest = m.computeDigest()
	return m
}

// computeDigest is sha256 over the manifest as Marshal writes it with
// Digest empty.
func (m Manifest) computeDigest() string {
	m.Digest = ""
	return digestOf(m.Marshal())
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// digestField is how Marshal writes the digest, the manifest's last field.
// No string value can hold it: a quote inside one is escaped.
var digestField = []byte(`"digest": "`)

// verifyDigest checks data against the digest it ends with, without
// decoding it: the bytes with the digest's value cut out must hash to it.
func verifyDigest(data []byte) (claimed string, ok bool) {
	i := bytes.LastIndex(data, digestField)
	if i < 0 {
		return "", false
	}
	start := i + len(digestField)
	end := bytes.IndexByte(data[start:], '"')
	if end < 0 {
		return "", false
	}
	claimed = string(data[start : start+end])
	h := sha256.New()
	h.Write(data[:start])
	h.Write(data[start+end:])
	return claimed, "sha256:"+hex.EncodeToString(h.Sum(nil)) == claimed
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
	h, err := readHeader(data, source)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, &ManifestError{Source: source, Msg: fmt.Sprintf("not a ledger manifest: %v", err)}
	}
	if err := m.validate(); err != nil {
		return Manifest{}, &ManifestError{Source: source, Msg: err.Error()}
	}
	if m.AppVersion != h.AppVersion || m.Policy != h.Policy || m.SetDigest != h.SetDigest {
		return Manifest{}, &ManifestError{Source: source, Msg: "a field appears twice"}
	}
	return m, nil
}

// ManifestHeader is what a manifest says before its migrations: enough
// for the startup check's fast path, read without decoding the list.
type ManifestHeader struct {
	Format     int              `json:"manifest_format"`
	AppVersion string           `json:"app_version"`
	Policy     string           `json:"policy"`
	SetDigest  projector.Digest `json:"set_digest"`
	Count      int              `json:"migration_count"`
	Digest     string           `json:"-"` // the manifest's digest (it ends the manifest)
}

// readHeader checks the digest over all of data, then decodes the fields
// before the migration list and checks them.
func readHeader(data []byte, source string) (ManifestHeader, error) {
	var h ManifestHeader
	bad := func(format string, args ...any) (ManifestHeader, error) {
		return h, &ManifestError{Source: source, Msg: fmt.Sprintf(format, args...)}
	}
	regenerate := func(format string, args ...any) (ManifestHeader, error) {
		return h, &ManifestError{Source: source, Msg: fmt.Sprintf(format, args...), Regenerate: true}
	}
	notManifest := func(err error) (ManifestHeader, error) {
		return h, &ManifestError{Source: source, Msg: fmt.Sprintf("not a ledger manifest: %v", err), Regenerate: true,
			Hint: "write one from the release's files: NewManifest, then Manifest.Marshal"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err == nil {
			err = fmt.Errorf("want a JSON object")
		}
		return notManifest(err)
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return notManifest(err)
		}
		key, _ := tok.(string)
		if key == "migrations" {
			break
		}
		var dst any
		switch key {
		case "manifest_format":
			dst = &h.Format
		case "app_version":
			dst = &h.AppVersion
		case "policy":
			dst = &h.Policy
		case "set_digest":
			dst = &h.SetDigest
		case "migration_count":
			dst = &h.Count
		default:
			return notManifest(fmt.Errorf("unexpected field %q before the migrations", key))
		}
		seen[key] = true
		if err := dec.Decode(dst); err != nil {
			return notManifest(fmt.Errorf("field %s: %v", key, err))
		}
	}
	switch {
	case h.Format > ManifestFormat:
		return bad("manifest format %d is newer than this binary understands (%d); use a newer ledger", h.Format, ManifestFormat)
	case len(seen) != 5:
		return notManifest(fmt.Errorf("want manifest_format, app_version, policy, set_digest and migration_count before the migrations"))
	case h.Format < 1:
		return bad("manifest_format %d: want %d", h.Format, ManifestFormat)
	}
	claimed, ok := verifyDigest(data)
	if !ok {
		return regenerate("digest %q does not match its content: the manifest was edited, reformatted or truncated; write it again from the release's files", claimed)
	}
	h.Digest = claimed
	if _, err := policy.ParseAppVersion(h.AppVersion); err != nil {
		return bad("%v", err)
	}
	if _, err := policy.Parse(h.Policy); err != nil {
		return bad("%v", err)
	}
	return h, nil
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
	if m.Count != len(m.Migrations) {
		errs = append(errs, fmt.Errorf("migration_count %d, but %d migrations are listed", m.Count, len(m.Migrations)))
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

// NewReleaseChecker prepares the checks of the release whose manifest is
// data (e.g. embedded with go:embed, or a file's bytes): its app version and
// policy are the manifest's, unless opts say otherwise. It checks the
// manifest's digest and header at once, and decodes its migration list only
// when a check needs it: when the ledger holds exactly the release's
// migrations, a check costs one hash over the manifest and one row read.
// Like NewManifestChecker it reads through db and cannot auto-migrate.
func NewReleaseChecker(db ledger.DB, data []byte, opts ...Option) (*Checker, error) {
	h, err := readHeader(data, "manifest")
	if err != nil {
		return nil, err
	}
	p, _ := policy.Parse(h.Policy)
	base := []Option{WithAppVersion(h.AppVersion), WithPolicy(p)}
	c, err := newReader(db, append(base, opts...))
	if err != nil {
		return nil, err
	}
	if c.cfg.autoMigrate {
		return nil, ErrAutoMigrateNeedsFiles
	}
	c.manifest, c.digest = policy.Manifest{AppVersion: c.cfg.appVersion}, h.SetDigest
	c.release = &releaseSource{data: data, header: h}
	// What Evaluate says of a ledger holding exactly the release's
	// migrations: what it says of an empty release on an empty ledger, with
	// the migrations counted (the manifest's own validity was checked when
	// it was written, and is checked again whenever the list is decoded).
	c.run = policy.Evaluate(c.manifest, projector.NewState(), c.cfg.policy)
	c.run.Applied = h.Count
	return c, nil
}

// releaseSource is a manifest whose migration list is decoded on first need.
type releaseSource struct {
	data   []byte
	header ManifestHeader
	once   sync.Once
	full   Manifest
	err    error
}

// Release is the header of the manifest the checker checks (false: it
// checks a set, not a manifest).
func (c *Checker) Release() (ManifestHeader, bool) {
	if c.release == nil {
		return ManifestHeader{}, false
	}
	return c.release.header, true
}

// loadRelease decodes the release's migration list, once, for the checks
// that need more than the fast path.
func (c *Checker) loadRelease() error {
	rs := c.release
	if rs == nil {
		return nil
	}
	rs.once.Do(func() {
		m, err := ParseManifest(rs.data)
		if err != nil {
			rs.err = err
			return
		}
		rs.full = m
		c.manifest.Migrations = m.Known().Migrations
	})
	return rs.err
}

// CheckManifest is Check for a release known by its manifest, e.g. one
// embedded in the server's binary: no migration file is read.
//
//	//go:embed release.json
//	var release []byte
//
//	verdict, err := migrations.CheckManifest(ctx, pool, release)
func CheckManifest(ctx context.Context, db ledger.DB, manifest []byte, opts ...Option) (policy.Verdict, error) {
	c, err := NewReleaseChecker(db, manifest, opts...)
	if err != nil {
		return policy.Verdict{}, err
	}
	return c.Check(ctx)
}
