package migrations

import (
	"errors"

	"github.com/schema-ledger/ledger/internal/sqllex"
)

// Statement is one SQL statement of a migration file: its text (without the
// terminating ";", leading comments dropped), its 1-based line and its byte
// offset in the file.
type Statement = sqllex.Statement

// Split splits SQL text into statements on top-level semicolons, the way psql
// does: it understands -- and nested /* */ comments, '…' strings (a quote
// doubled), E'…' strings (backslash escapes), "…" identifiers, $$…$$ and
// $tag$…$tag$ dollar quotes, semicolons inside parentheses and inside the
// BEGIN ATOMIC … END body of CREATE FUNCTION/PROCEDURE. Statements that are
// empty or hold only comments are dropped. An unterminated string,
// identifier, comment or dollar quote is a *FileError with the line where it
// starts. Split never panics.
func Split(sql string) ([]Statement, error) {
	stmts, err := sqllex.Split(sql)
	return stmts, fileError(err)
}

// fileError turns the lexer's error into a *FileError (without a file name).
func fileError(err error) error {
	var le *sqllex.Error
	if errors.As(err, &le) {
		return &FileError{Line: le.Line, Msg: le.Msg}
	}
	return err
}
