package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Kind is what an alert is about. Kinds are stable: subjects and
// consumers match them.
type Kind string

// The alert kinds. Each is a state of the ledger for the guarded release;
// an alert of a kind is raised when that state appears or changes
// (Status firing, stating the whole situation) and when it ends (Status
// recovered).
const (
	KindUnknown  Kind = "unknown-migration" // applied migrations the release does not know, refused by its policy
	KindMismatch Kind = "checksum-mismatch" // applied migrations that differ from the release's files
	KindFailed   Kind = "migration-failed"  // migrations whose last attempt failed (with its SQLSTATE)
	KindInDoubt  Kind = "in-doubt"          // no-transaction migrations started and not finished after the grace period
	KindDrift    Kind = "schema-drift"      // schema changes made outside the migrations, not accepted
)

// Status says whether an alert's state holds or has ended.
type Status string

// The statuses.
const (
	Firing    Status = "firing"    // the state holds (it appeared, or changed: the alert states it whole)
	Recovered Status = "recovered" // the state of this kind ended
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

// Drift is one change of the schema made outside the migrations: the
// catalog found against the snapshot it was compared with.
type Drift struct {
	Baseline    string    `json:"baseline"`     // the recorded snapshot's fingerprint
	BaselineSeq int64     `json:"baseline_seq"` // the event that recorded it
	Found       string    `json:"found"`        // the catalog's fingerprint found ("ddl:<event id>" for captured DDL)
	Changes     []string  `json:"changes,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	At          time.Time `json:"at"`
	Message     string    `json:"message"`
}

// key identifies a drift whichever way it was seen (polling, the
// schema.drifted event of a run, captured DDL).
func (d Drift) key() string { return fmt.Sprintf("%d|%s|%s", d.BaselineSeq, d.Baseline, d.Found) }

// Alert is one change of a state of the ledger for the guarded release.
type Alert struct {
	Kind     Kind   `json:"kind"`
	Status   Status `json:"status"`
	Ledger   string `json:"ledger,omitempty"` // the ledger's name in NATS
	Release  string `json:"release"`          // the guarded app version
	Policy   string `json:"policy"`
	Decision string `json:"decision"` // the release's verdict now: run, migrate or refuse
	// Seq is the newest ledger event that made the state (for a recovery:
	// the one that ended it); State is a digest of the state. With the
	// ledger, release, kind and status they are the alert's id (MsgID):
	// every watcher that sees the same state publishes it once, and the
	// same state again after a recovery is a new alert.
	Seq   int64  `json:"seq"`
	State string `json:"state"`
	// Cause is a digest of the state without its seqs: the same cause on
	// another database (the same unknown migrations, the same drift) has
	// the same; a fleet watcher groups alerts by it.
	Cause string    `json:"cause"`
	At    time.Time `json:"at"` // when the watcher raised it
	// The whole current situation (firing), or what ended (recovered).
	Migrations []Fact   `json:"migrations,omitempty"`
	Drifts     []Drift  `json:"drifts,omitempty"`
	Changes    []string `json:"changes,omitempty"` // schema-drift: every drift's lines
	Actor      string   `json:"actor,omitempty"`   // schema-drift: who, when known (the newest drift)
	// Group is, for an alert grouped over a fleet, its id (release, kind,
	// status, cause, when it opened), and Ledgers every ledger with this
	// cause (Ledger is then empty); Update says that a later ledger
	// joined a group alerted before.
	Group   string   `json:"group,omitempty"`
	Ledgers []string `json:"ledgers,omitempty"`
	Count   int      `json:"count,omitempty"`
	Update  bool     `json:"update,omitempty"`
	Message string   `json:"message"`
}

// MsgID is the alert's Nats-Msg-Id: the same for every watcher of the same
// release that sees the same state.
func (a Alert) MsgID() string {
	if a.Group != "" {
		return fmt.Sprintf("%s|%d", a.Group, a.Count)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%d|%s", a.Ledger, a.Release, a.Kind, a.Status, a.Seq, a.State)
}

// Line is the alert on one line, for a terminal or a log.
func (a Alert) Line() string {
	what := string(a.Kind)
	if a.Status == Recovered {
		what += " recovered"
	}
	return fmt.Sprintf("%s ALERT %s release %s (%s): %s", a.At.UTC().Format(time.RFC3339), what, orDash(a.Release), a.Decision, a.Message)
}

// FleetLine is Line with the ledger(s) the alert is about first.
func (a Alert) FleetLine() string {
	switch {
	case a.Group != "" && a.Update:
		return fmt.Sprintf("[%d ledgers, now also %s] %s", a.Count, a.Ledgers[len(a.Ledgers)-1], a.Line())
	case a.Group != "":
		return fmt.Sprintf("[%d ledgers: %s] %s", a.Count, strings.Join(a.Ledgers, ", "), a.Line())
	}
	return fmt.Sprintf("[%s] %s", a.Ledger, a.Line())
}

// digest is a short digest of a state's lines.
func digest(lines []string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
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
