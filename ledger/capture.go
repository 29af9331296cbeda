package ledger

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed sql/capture_ddl.sql
var captureDDLSQL string

// CaptureDDLError says why DDL capture could not be installed.
type CaptureDDLError struct {
	Schema string
	Err    error
}

// NeedsSuperuser reports whether capture was refused for want of the
// privilege: PostgreSQL lets only a superuser create event triggers.
func (e *CaptureDDLError) NeedsSuperuser() bool {
	var pgErr *pgconn.PgError
	return errors.As(e.Err, &pgErr) && pgErr.Code == "42501"
}

func (e *CaptureDDLError) Error() string {
	var pgErr *pgconn.PgError
	if e.NeedsSuperuser() && errors.As(e.Err, &pgErr) {
		return fmt.Sprintf("capture DDL for ledger %q: creating an event trigger needs a superuser (PostgreSQL: %s); install the capture once as one (Store.InstallDDLCapture), or go without: drift is still found by comparing the schema with the snapshot each migration run records", e.Schema, pgErr.Message)
	}
	return fmt.Sprintf("capture DDL for ledger %q: %v", e.Schema, e.Err)
}

func (e *CaptureDDLError) Unwrap() error { return e.Err }

// Fact is the error without the library's advice (Fixer).
func (e *CaptureDDLError) Fact() string {
	var pgErr *pgconn.PgError
	if e.NeedsSuperuser() && errors.As(e.Err, &pgErr) {
		return fmt.Sprintf("capture DDL for ledger %q: creating an event trigger needs a superuser (PostgreSQL: %s)", e.Schema, pgErr.Message)
	}
	return e.Error()
}

// captureTrigger names the ledger's event triggers (event triggers live
// outside any schema, so the name carries it).
func (s *Store) captureTrigger() string { return "ledger_" + s.schema + "_capture" }

// InstallDDLCapture installs the event triggers that append a
// schema.changed event (command tag, objects, database user,
// application_name) for DDL run outside a migration. It needs a superuser;
// without one it returns a *CaptureDDLError and changes nothing. It is
// idempotent.
func (s *Store) InstallDDLCapture(ctx context.Context) error {
	sql := strings.NewReplacer(
		"{{schema}}", s.q,
		"{{schemaname}}", quoteLiteral(s.schema),
		"{{trigger}}", s.captureTrigger(), // the schema name is letters, digits and underscores (ValidateSchemaName)
		"{{lockkey}}", strconv.FormatInt(s.LockKey(), 10),
	).Replace(captureDDLSQL)
	err := pgx.BeginFunc(ctx, txBeginner{s.db}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return &CaptureDDLError{Schema: s.schema, Err: s.mapErr(err)}
	}
	return nil
}

// DDLCaptured reports whether DDL capture is installed for this ledger.
func (s *Store) DDLCaptured(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE $1 AND evtenabled <> 'D'", s.captureTrigger()+"%").Scan(&n)
	return n == 2, err
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
