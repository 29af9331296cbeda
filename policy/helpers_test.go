package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// sum is the checksum a release ships for a migration's up file.
func sum(id string) string {
	h := sha256.Sum256([]byte("-- up file of " + id))
	return hex.EncodeToString(h[:])
}

// ships is the manifest of a release shipping ids, in set order.
func ships(app string, ids ...string) policy.Manifest {
	m := policy.Manifest{AppVersion: app}
	for _, id := range ids {
		m.Migrations = append(m.Migrations, policy.Known{ID: id, Checksum: sum(id)})
	}
	return m
}

// ledger builds a projection by folding real events, as the event store does.
type ledger struct {
	t      *testing.T
	at     time.Time // RecordedAt of the next event; each event advances it a minute
	host   string
	actor  string
	events []projector.Event
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newLedger(t *testing.T) *ledger {
	t.Helper()
	l := &ledger{t: t, at: t0, host: "web-1", actor: "deploy"}
	l.append("", projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"})
	return l
}

func (l *ledger) append(app, typ string, payload any) {
	l.t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		l.t.Fatalf("new %s event: %v", typ, err)
	}
	e.Seq = int64(len(l.events) + 1)
	e.RecordedAt = l.at
	e.AppVersion, e.Host, e.Actor = app, l.host, l.actor
	l.events = append(l.events, e)
	l.at = l.at.Add(time.Minute)
}

// up records the migrations applied by release app, each with the
// compatibility constraint compatible ("" for none).
func (l *ledger) up(app, compatible string, ids ...string) *ledger {
	l.t.Helper()
	for _, id := range ids {
		l.append(app, projector.TypeMigrationApplied, projector.Applied{
			ID: id, Checksum: sum(id), Compatible: compatible, Transactional: true,
			DownSQL: "-- down " + id, DownChecksum: sum("down " + id), DurationMS: 12,
		})
	}
	l.append(app, projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "fp-" + app, Objects: 10})
	return l
}

func (l *ledger) down(app string, ids ...string) *ledger {
	l.t.Helper()
	for _, id := range ids {
		l.append(app, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromRecorded, DownChecksum: sum("down " + id)})
	}
	return l
}

func (l *ledger) started(app, id string) *ledger {
	l.t.Helper()
	l.append(app, projector.TypeMigrationStarted, projector.Started{ID: id, Checksum: sum(id)})
	return l
}

func (l *ledger) failed(app, id string, statementsDone int) *ledger {
	l.t.Helper()
	l.append(app, projector.TypeMigrationFailed, projector.Failed{ID: id, Checksum: sum(id), Error: "relation \"orders\" does not exist", SQLState: "42P01", Attempt: 1, StatementsDone: statementsDone})
	return l
}

func (l *ledger) resolve(id, decision string) *ledger {
	l.t.Helper()
	l.append("", projector.TypeMigrationResolved, projector.Resolved{ID: id, Decision: decision, Reason: "checked by hand"})
	return l
}

func (l *ledger) state() projector.State {
	l.t.Helper()
	s, err := projector.Fold(l.events)
	if err != nil {
		l.t.Fatalf("fold: %v", err)
	}
	return s
}
