package policy

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/projector"
)

// Rule says when migrations this binary does not know may stay applied.
type Rule int

const (
	// RuleStrict refuses any unknown migration. It is the zero value, so an
	// unset policy is the strictest one.
	RuleStrict Rule = iota
	// RuleCompatible allows an unknown migration iff it recorded a semver
	// constraint that this binary's app version satisfies.
	RuleCompatible
	// RuleSameMajor allows an unknown migration iff the release that applied
	// it has the same major version as this binary.
	RuleSameMajor
)

var ruleNames = [...]string{RuleStrict: "strict", RuleCompatible: "compatible", RuleSameMajor: "same-major"}

// outOfOrderSuffix marks a policy that allows pending migrations ordered
// before an applied one, so that Parse(p.String()) == p.
const outOfOrderSuffix = "+out-of-order"

// String is the rule's name as Parse accepts it.
func (r Rule) String() string {
	if r >= 0 && int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return fmt.Sprintf("rule(%d)", int(r))
}

func (r Rule) valid() bool { return r >= 0 && int(r) < len(ruleNames) }

// Policy is how Evaluate treats unknown and out-of-order migrations.
type Policy struct {
	Rule Rule
	// AllowOutOfOrder lets pending migrations ordered before an applied one be
	// applied (Migrate) instead of refused.
	AllowOutOfOrder bool
}

// The policies by name.
var (
	Strict     = Policy{Rule: RuleStrict}
	Compatible = Policy{Rule: RuleCompatible}
	SameMajor  = Policy{Rule: RuleSameMajor}
)

// Parse returns the policy named "strict", "compatible" or "same-major".
// A name may end in "+out-of-order" (as String writes it) to allow pending
// migrations ordered before an applied one. The empty name is an error: the
// caller applies the default (strict) explicitly.
func Parse(name string) (Policy, error) {
	base, ooo := strings.CutSuffix(name, outOfOrderSuffix)
	for r, n := range ruleNames {
		if base == n {
			return Policy{Rule: Rule(r), AllowOutOfOrder: ooo}, nil
		}
	}
	return Policy{}, fmt.Errorf("%w %q: want one of %s, each optionally followed by %s (e.g. strict%s) to allow pending migrations ordered before an applied one", ErrUnknownPolicy, name, strings.Join(ruleNames[:], ", "), outOfOrderSuffix, outOfOrderSuffix)
}

// String is the policy's name as Parse accepts it.
func (p Policy) String() string {
	if p.AllowOutOfOrder {
		return p.Rule.String() + outOfOrderSuffix
	}
	return p.Rule.String()
}

// Known is one migration this binary ships: its id and the checksum of its up
// file.
type Known struct {
	ID       string `json:"id"`
	Checksum string `json:"checksum"`
}

// Manifest is what this binary ships: its release (a semantic version, may be
// empty under the strict policy) and its migration set, in set order.
type Manifest struct {
	AppVersion string  `json:"app_version"`
	Migrations []Known `json:"migrations"`
}

// Digest is the digest of the manifest's migration set, computed as the
// ledger computes the digest of the applied set: when it equals the ledger
// head's digest, every known migration is applied with the same checksum and
// nothing else is, so the binary may run without reading anything more.
func (m Manifest) Digest() projector.Digest {
	var d projector.Digest
	for _, k := range m.Migrations {
		d = d.Add(k.ID, k.Checksum)
	}
	return d
}

// ParseAppVersion parses a release's app version: a full semantic version,
// MAJOR.MINOR.PATCH with optional pre-release and build metadata, optionally
// prefixed by "v" ("1.2.0", "v1.2.0", "1.3.0-rc.1"). Partial versions ("1.2")
// and names ("latest") are rejected, since a constraint check against them
// would be a guess.
func ParseAppVersion(s string) (*semver.Version, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty; want a semantic version such as 1.2.0", ErrInvalidAppVersion)
	}
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil, fmt.Errorf("%w %q: want a semantic version MAJOR.MINOR.PATCH such as 1.2.0 or v1.2.0: %v", ErrInvalidAppVersion, s, err)
	}
	return v, nil
}
