package migrations

import (
	"strings"

	"github.com/schema-ledger/ledger/internal/sqllex"
	"github.com/schema-ledger/ledger/projector"
)

// What a step records. These are pure: the executor records them the same
// way whatever the step's direction.

func (st Step) checksum() string {
	if st.Direction == DirDown && st.Recorded != nil {
		return st.Recorded.Checksum
	}
	if st.Migration != nil {
		return st.Migration.Checksum
	}
	return ""
}

func (st Step) dirName() string {
	if st.Direction == DirDown {
		return projector.DirectionDown
	}
	return projector.DirectionUp
}

// downOf is the down SQL an up step records, so that a binary that does
// not ship this migration can still revert it.
func (st Step) downOf() (sql, checksum string) {
	if st.Direction == DirUp && st.Migration != nil && st.Migration.Down != nil && !st.Migration.Down.Go() {
		return st.Migration.Down.Text, st.Migration.Down.Checksum
	}
	return "", ""
}

// started is the migration.started of a no-transaction step.
func (st Step) started() projector.Started {
	p := projector.Started{ID: st.ID, Checksum: st.checksum(), Direction: st.dirName()}
	if st.Direction == DirUp && st.Migration != nil {
		p.Compatible = st.Migration.Compatible
		p.DownSQL, p.DownChecksum = st.downOf()
	}
	return p
}

// done is the event that records the step as done; a transactional step's
// duration is filled in by the server.
func (st Step) done(durationMS int64) (projector.Event, error) {
	if st.Direction == DirDown {
		return projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{
			ID: st.ID, Source: st.Source, DownChecksum: st.Script.Checksum, DurationMS: durationMS,
		})
	}
	p := projector.Applied{ID: st.ID, Checksum: st.checksum(), Transactional: !st.Script.NoTransaction, DurationMS: durationMS, AllowedBreaking: st.AllowedBreaking, Rollout: st.Rollout}
	if st.Migration != nil {
		p.Compatible = st.Migration.Compatible
	}
	p.DownSQL, p.DownChecksum = st.downOf()
	return projector.NewEvent(projector.TypeMigrationApplied, p)
}

// doneIn reports whether state records the step as done: an up applied,
// a down reverted.
func (st Step) doneIn(state projector.State) bool {
	_, applied := state.Applied[st.ID]
	return applied == (st.Direction == DirUp)
}

// failed is the migration.failed of a step that failed after done of its
// statements had completed.
func (st Step) failed(merr *MigrationError, done int, leftBehind bool) projector.Failed {
	attempt := max(st.Attempt, 1)
	return projector.Failed{
		ID: st.ID, Checksum: st.checksum(), Error: merr.Err.Error(), SQLState: merr.SQLState,
		Statement: oneLine(merr.Statement, 2000), Attempt: attempt, StatementsDone: done,
		LeftBehind: leftBehind, Direction: st.dirName(),
	}
}

// leavesBehind reports whether a statement may leave something behind when
// it fails, even run on its own outside a transaction: the CONCURRENTLY
// forms of CREATE INDEX, REINDEX and DROP INDEX (an invalid index), and
// ALTER TABLE … DETACH PARTITION … CONCURRENTLY (a pending detach).
func leavesBehind(s Statement) bool {
	w := identWords(s.Text)
	if !sqllex.Contains(w, "concurrently") {
		return false
	}
	switch sqllex.At(w, 0) {
	case "create", "reindex", "drop":
		return sqllex.Contains(w, "index") || sqllex.At(w, 0) == "reindex"
	case "alter":
		return sqllex.Contains(w, "detach")
	}
	return false
}

// identWords lists the bare words of SQL text, lower-cased, with quoted
// identifiers unquoted; comments, strings and punctuation left out.
func identWords(sql string) []string {
	lx, err := sqllex.Lex(sql)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range lx.Tokens {
		switch t.Kind {
		case sqllex.Word:
			out = append(out, strings.ToLower(sql[t.Start:t.End]))
		case sqllex.QuotedIdent:
			out = append(out, strings.ReplaceAll(sql[t.Start+1:t.End-1], `""`, `"`))
		}
	}
	return out
}
