package migrations

import (
	"errors"

	"github.com/schema-ledger/ledger/internal/sqllex"
)

// Statement is one SQL statement of a migration file: its text (without the
// terminating ";", leading comments dropped), its 1-based line and its byte
// offset in the file.
type Statement = sqllex.Statement

// fileError turns the lexer's error into a *FileError (without a file name).
func fileError(err error) error {
	var le *sqllex.Error
	if errors.As(err, &le) {
		return &FileError{Line: le.Line, Msg: le.Msg}
	}
	return err
}
