package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// Decision is what the binary may do with the database.
type Decision int

// The decisions. The zero Decision is none of them, so a Verdict that was
// never evaluated is not mistaken for Run.
const (
	Run     Decision = iota + 1 // every migration applied is known and nothing is pending
	Migrate                     // safe, but migrations this binary ships are pending
	Refuse                      // the binary must not run against this database
)

var decisionNames = map[Decision]string{Run: "run", Migrate: "migrate", Refuse: "refuse"}

// String is "run", "migrate" or "refuse".
func (d Decision) String() string {
	if n, ok := decisionNames[d]; ok {
		return n
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// MarshalText encodes the decision by name; the zero Decision is an error.
func (d Decision) MarshalText() ([]byte, error) {
	if _, ok := decisionNames[d]; !ok {
		return nil, fmt.Errorf("policy: cannot encode invalid %s", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes "run", "migrate" or "refuse".
func (d *Decision) UnmarshalText(b []byte) error {
	for k, n := range decisionNames {
		if string(b) == n {
			*d = k
			return nil
		}
	}
	return fmt.Errorf("policy: decision %q: want run, migrate or refuse", b)
}

// Code classifies a Reason. Codes are stable: scripts and alerts match them.
type Code string

// The reason codes.
const (
	CodePending          Code = "pending"           // migrations this binary ships are not applied
	CodeUnknown          Code = "unknown"           // applied migrations this binary does not ship (strict)
	CodeIncompatible     Code = "incompatible"      // unknown migrations the policy does not allow
	CodeChecksumMismatch Code = "checksum-mismatch" // an applied migration's file changed
	CodeInDoubt          Code = "in-doubt"          // a migration started and never finished
	CodeOutOfOrder       Code = "out-of-order"      // a pending migration is ordered before an applied one
	CodeUnverifiable     Code = "unverifiable"      // the ledger itself cannot be trusted or read
	CodeInvalidInput     Code = "invalid-input"     // the manifest or policy is not valid
)

// Integrity reports whether the code means the database or its ledger
// cannot be trusted as recorded, rather than merely being ahead of the binary.
func (c Code) Integrity() bool {
	return c == CodeChecksumMismatch || c == CodeInDoubt || c == CodeUnverifiable
}

// Reason is one reason for a decision.
type Reason struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Unknown is a migration the ledger says is applied that this binary does not
// ship, with what the ledger recorded about it.
type Unknown struct {
	ID         string    `json:"id"`
	AppliedAt  time.Time `json:"applied_at"`
	AppVersion string    `json:"app_version"` // of the release that applied it
	Host       string    `json:"host"`
	Actor      string    `json:"actor"`
	Compatible string    `json:"compatible,omitempty"` // the semver constraint it recorded
	Seq        int64     `json:"seq"`                  // the event that applied it
	Allowed    bool      `json:"allowed"`              // the policy lets this binary run with it applied
	Why        string    `json:"why"`                  // why the policy allows or refuses it
}

// Mismatch is an applied migration whose recorded checksum differs from the
// checksum of this binary's file.
type Mismatch struct {
	ID       string `json:"id"`
	Recorded string `json:"recorded"` // checksum recorded when it was applied
	Local    string `json:"local"`    // checksum of this binary's file
	// Accepted are the checksums accepted for it since (migration.accepted,
	// oldest first): a file with any of them, or with Recorded, is this
	// migration.
	Accepted   []string  `json:"accepted,omitempty"`
	AppliedAt  time.Time `json:"applied_at"`
	AppVersion string    `json:"app_version"`
}

// Verdict is the answer to "may this binary run against this database?",
// with every fact behind it.
type Verdict struct {
	Decision   Decision            `json:"decision"`
	AppVersion string              `json:"app_version"` // this binary's
	Policy     string              `json:"policy"`
	Applied    int                 `json:"applied"`                // migrations applied, per the ledger
	Pending    []string            `json:"pending,omitempty"`      // known, not applied, in set order
	Unknown    []Unknown           `json:"unknown,omitempty"`      // applied, not known, by projector.CompareIDs
	Mismatched []Mismatch          `json:"mismatched,omitempty"`   // applied and known, checksums differ
	InDoubt    []projector.InDoubt `json:"in_doubt,omitempty"`     // by projector.CompareIDs
	OutOfOrder []string            `json:"out_of_order,omitempty"` // pending, ordered before an applied one
	// RollbackTo is, when some unknown migration is refused, the newest
	// migration this binary knows that is applied and ordered before every
	// refused one: `ledger down --to RollbackTo --use-recorded` returns the
	// database to a schema this binary knows. Empty then means every applied
	// migration has to be reverted.
	RollbackTo string   `json:"rollback_to,omitempty"`
	Reasons    []Reason `json:"reasons,omitempty"` // every reason for the decision, most important first
}

// Integrity reports whether the verdict refuses for an integrity reason: a
// checksum mismatch, a migration in doubt or an unverifiable ledger.
func (v Verdict) Integrity() bool {
	return v.Decision == Refuse && slices.ContainsFunc(v.Reasons, func(r Reason) bool { return r.Code.Integrity() })
}

// Has reports whether the verdict holds a reason with the code.
func (v Verdict) Has(c Code) bool {
	return slices.ContainsFunc(v.Reasons, func(r Reason) bool { return r.Code == c })
}

// acceptedSince says which checksums were accepted for it since it was
// applied ("" if none).
func (m Mismatch) acceptedSince() string {
	if len(m.Accepted) == 0 {
		return ""
	}
	sums := make([]string, len(m.Accepted))
	for i, c := range m.Accepted {
		sums[i] = short(c)
	}
	return " (accepted since as " + strings.Join(sums, ", ") + ")"
}
