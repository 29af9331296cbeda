package watch

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what an alert is about. Kinds are stable: subjects and
// consumers match them.
type Kind string

// The alert kinds.
const (
	KindUnknown   Kind = "unknown-migration" // applied migrations the release does not know, refused by its policy
	KindMismatch  Kind = "checksum-mismatch" // an applied migration differs from the release's file
	KindFailed    Kind = "migration-failed"  // a migration failed (with its SQLSTATE)
	KindInDoubt   Kind = "in-doubt"          // a no-transaction migration started and never finished
	KindDrift     Kind = "schema-drift"      // the schema changed outside the migrations
	KindRecovered Kind = "recovered"         // the release's verdict no longer refuses
)

// Fact is one migration an alert is about, with what the ledger recorded
// of it.
type Fact struct {
	ID         string    `json:"id"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	AppVersion string    `json:"app_version,omitempty"` // of the release that applied (or ran) it
	Actor      string    `json:"actor,omitempty"`
	Host       string    `json:"host,omitempty"`
	Checksum   string    `json:"checksum,omitempty"`
	Local      string    `json:"local_checksum,omitempty"` // checksum-mismatch: the release's
	Compatible string    `json:"compatible,omitempty"`
	SQLState   string    `json:"sqlstate,omitempty"`
	Error      string    `json:"error,omitempty"`
	Statement  string    `json:"statement,omitempty"`
}

// Alert is one change in what the ledger means for the guarded release.
type Alert struct {
	Kind     Kind   `json:"kind"`
	Ledger   string `json:"ledger,omitempty"` // the ledger's name in NATS
	Release  string `json:"release"`          // the guarded app version
	Policy   string `json:"policy"`
	Decision string `json:"decision"` // the release's verdict after the change: run, migrate or refuse
	// Seq is the ledger event the alert is derived from (for schema-drift:
	// the snapshot the schema was compared with): with the release, the
	// kind (and a drift's fingerprint) it identifies the alert, so several
	// watchers publish it once.
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"` // when that event was recorded (or the drift seen)
	Migrations []Fact    `json:"migrations,omitempty"`
	Changes    []string  `json:"changes,omitempty"` // schema-drift: one line per object
	Actor      string    `json:"actor,omitempty"`   // schema-drift: who, when known
	// Fingerprint is, for schema-drift, the catalog's fingerprint found.
	Fingerprint string `json:"fingerprint,omitempty"`
	Message     string `json:"message"`
}

// MsgID is the alert's Nats-Msg-Id: the same for every watcher of the same
// release that sees the same change.
func (a Alert) MsgID() string {
	id := fmt.Sprintf("%s|%s|%s|%d", a.Ledger, a.Release, a.Kind, a.Seq)
	if a.Kind == KindDrift && a.Fingerprint != "" {
		id += "|" + a.Fingerprint
	}
	return id
}

// Line is the alert on one line, for a terminal or a log.
func (a Alert) Line() string {
	return fmt.Sprintf("%s ALERT %s release %s (%s): %s", a.At.UTC().Format(time.RFC3339), a.Kind, orDash(a.Release), a.Decision, a.Message)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describe(f Fact) string {
	var who []string
	if f.AppVersion != "" {
		who = append(who, "release "+f.AppVersion)
	}
	if f.Actor != "" || f.Host != "" {
		who = append(who, orDash(f.Actor)+"@"+orDash(f.Host))
	}
	s := f.ID
	if len(who) > 0 {
		s += " (" + strings.Join(who, ", ") + ")"
	}
	return s + " at " + f.At.UTC().Format(time.RFC3339) + fmt.Sprintf(", seq %d", f.Seq)
}

func describeAll(fs []Fact) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = describe(f)
	}
	return strings.Join(parts, "; ")
}
