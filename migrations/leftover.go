package migrations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/sqllex"
	"github.com/schema-ledger/ledger/projector"
)

// createdRelation parses the relation a CREATE statement names — CREATE
// [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON …, CREATE [OR
// REPLACE] [TEMP] TABLE|VIEW|SEQUENCE|MATERIALIZED VIEW [IF NOT EXISTS]
// name — as SQL text for to_regclass, with its kind ("index", "table", …).
// ok is false for anything else, and for an index left unnamed.
func createdRelation(sql string) (kind, name string, ok bool) {
	lx, err := sqllex.Lex(sql)
	if err != nil {
		return "", "", false
	}
	var toks []sqllex.Token
	for _, t := range lx.Tokens {
		if t.Kind != sqllex.LineComment && t.Kind != sqllex.BlockComment {
			toks = append(toks, t)
		}
	}
	word := func(i int) string {
		if i < len(toks) && toks[i].Kind == sqllex.Word {
			return strings.ToLower(sql[toks[i].Start:toks[i].End])
		}
		return ""
	}
	i := 0
	if word(i) != "create" {
		return "", "", false
	}
	i++
	for {
		switch w := word(i); w {
		case "unique", "temp", "temporary", "unlogged", "or", "replace", "recursive":
			i++
			continue
		case "materialized":
			if word(i+1) == "view" {
				kind, i = "materialized view", i+2
			}
		case "index", "table", "view", "sequence":
			kind, i = w, i+1
		}
		break
	}
	if kind == "" {
		return "", "", false
	}
	if kind == "index" && word(i) == "concurrently" {
		i++
	}
	if word(i) == "if" && word(i+1) == "not" && word(i+2) == "exists" {
		i += 3
	}
	isName := func(i int) bool {
		return i < len(toks) && (toks[i].Kind == sqllex.QuotedIdent || toks[i].Kind == sqllex.Word && word(i) != "on")
	}
	if !isName(i) {
		return "", "", false
	}
	end := toks[i].End
	if i+2 < len(toks) && toks[i+1].Kind == sqllex.Other && sql[toks[i+1].Start:toks[i+1].End] == "." && isName(i+2) {
		end = toks[i+2].End
	}
	return kind, sql[toks[i].Start:end], true
}

// inspect runs f on the session's connection, or, when that died (the
// statement's backend was terminated), on a connection of its own: what a
// failed statement left is found either way. A bound of its own: it runs
// after a failure, perhaps after ctx was cancelled.
func (s *session) inspect(ctx context.Context, f func(ctx context.Context, conn *pgx.Conn) error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !s.conn.IsClosed() && s.conn.PgConn().TxStatus() == 'I' {
		return f(rctx, s.conn)
	}
	if s.set.pool == nil {
		return errors.New("no connection to look with")
	}
	conn, err := pgx.ConnectConfig(rctx, s.set.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(rctx)
	return f(rctx, conn)
}

// relationState says whether the relation name (SQL text) exists and, for
// an index, whether it is valid; its name schema-qualified.
func relationState(ctx context.Context, conn *pgx.Conn, name string) (regclass string, exists, valid bool, err error) {
	var reg *string
	var ok *bool
	err = conn.QueryRow(ctx, `SELECT format('%I.%I', n.nspname, c.relname), coalesce(i.indisvalid AND i.indisready, true)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
		WHERE c.oid = to_regclass($1)`, name).Scan(&reg, &ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, err
	}
	return *reg, true, *ok, nil
}

// leftBy finds what a failed statement that may leave something behind
// (leavesBehind) left: for CREATE INDEX CONCURRENTLY of a named index,
// the index itself if it is there and invalid — and proven is true: it
// left exactly that (nothing, when no invalid index of that name is
// there). Otherwise the invalid indexes on what the statement touched,
// unproven.
func (s *session) leftBy(ctx context.Context, st Statement) (left []string, proven bool) {
	if kind, name, ok := createdRelation(st.Text); ok && kind == "index" {
		err := s.inspect(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			reg, exists, valid, err := relationState(ctx, conn, name)
			if err == nil && exists && !valid {
				left = []string{reg}
			}
			return err
		})
		if err == nil {
			return left, true
		}
	}
	return s.invalidIndexes(ctx, st), false
}

// createdBy lists what the completed statements of a no-transaction step
// created and is still there: "index public.orders_user (statement 1)".
func (s *session) createdBy(ctx context.Context, stmts []Statement) (created []string, drops []string) {
	_ = s.inspect(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		for i, st := range stmts {
			kind, name, ok := createdRelation(st.Text)
			if !ok {
				continue
			}
			reg, exists, valid, err := relationState(ctx, conn, name)
			if err != nil {
				return err
			}
			if !exists {
				continue
			}
			what := kind + " " + reg
			if !valid {
				what += " (invalid)"
			}
			created = append(created, fmt.Sprintf("%s (statement %d)", what, i+1))
			drops = append(drops, dropSQL(kind, reg))
		}
		return nil
	})
	return created, drops
}

// dropSQL drops a relation that a migration's statement created.
func dropSQL(kind, regclass string) string {
	if kind == "index" {
		return "DROP INDEX CONCURRENTLY " + regclass + ";"
	}
	return "DROP " + strings.ToUpper(kind) + " " + regclass + ";"
}

// clearLeftover makes a resume of a step in doubt possible: what its
// interrupted statement (from, 0-based) left behind — the invalid indexes
// recorded with its failure, or the invalid index it names — is dropped
// concurrently, and the drop recorded (migration.leftover_dropped). A
// valid index of that name (the statement may have completed), or
// invalid indexes it cannot tell are its own, refuse the resume before
// anything runs, naming them.
func (s *session) clearLeftover(ctx context.Context, step Step, d projector.InDoubt, from int) error {
	if from >= len(step.Script.Statements) {
		return nil
	}
	st := step.Script.Statements[from]
	drop := slices.Clone(d.LeftBehind)
	if leavesBehind(st) {
		kind, name, named := createdRelation(st.Text)
		err := s.inspect(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			if named && kind == "index" {
				reg, exists, valid, err := relationState(ctx, conn, name)
				switch {
				case err != nil:
					return err
				case exists && valid:
					return &ResumeError{ID: step.ID, Statement: from + 1, Valid: []string{reg}}
				case exists && !slices.Contains(drop, reg):
					drop = append(drop, reg)
				}
				return nil
			}
			if len(drop) == 0 {
				if left := s.invalidIndexes(ctx, st); len(left) > 0 {
					return &ResumeError{ID: step.ID, Statement: from + 1, Unknown: left}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var dropped []string
	for _, ix := range drop {
		if _, err := s.conn.PgConn().Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ix).ReadAll(); err != nil {
			if len(dropped) > 0 {
				_ = s.recordDropped(ctx, step, from, dropped)
			}
			return fmt.Errorf("resume %s: drop the invalid index %s that statement %d left: %w", step.ID, ix, from+1, err)
		}
		dropped = append(dropped, ix)
	}
	if len(dropped) == 0 {
		return nil
	}
	return s.recordDropped(ctx, step, from, dropped)
}

func (s *session) recordDropped(ctx context.Context, step Step, from int, dropped []string) error {
	ev, err := projector.NewEvent(projector.TypeLeftoverDropped, projector.LeftoverDropped{ID: step.ID, Statement: from + 1, Indexes: dropped})
	if err != nil {
		return err
	}
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	s.set.logger.Warn("dropped what the interrupted statement left before resuming", "id", step.ID, "statement", from+1, "indexes", dropped)
	return nil
}

// ResumeError: a resume refused before anything ran, because what the
// interrupted statement left cannot be dropped safely.
type ResumeError struct {
	ID        string
	Statement int      // the interrupted statement, 1-based
	Valid     []string // a valid index of the name it creates: it may have completed
	Unknown   []string // invalid indexes on what it touched, not known to be its own
}

func (e *ResumeError) Error() string {
	if len(e.Valid) > 0 {
		return fmt.Sprintf("resume %s: statement %d creates index %s, which exists and is valid: the statement may have completed before it was interrupted; nothing was run. Check the index: if it is this migration's, record the migration as applied (or drop the index and resume)",
			e.ID, e.Statement, strings.Join(e.Valid, ", "))
	}
	return fmt.Sprintf("resume %s: statement %d may have left invalid index(es) %s, which cannot be told apart from others; nothing was run. Drop them (DROP INDEX CONCURRENTLY) if they are its, then resume",
		e.ID, e.Statement, strings.Join(e.Unknown, ", "))
}
