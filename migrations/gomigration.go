package migrations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/Masterminds/semver/v3"
	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/projector"
)

// GoMigration is a migration written in Go (a data migration, say),
// registered with a set beside its SQL files (WithGo): goose's
// AddMigrationContext, for the ledger. It is ordered among the files by
// its id, planned, run, recorded and reverted like any migration. Only a
// binary that compiles it can run it, so a set holding Go migrations is
// run by the application's own binary (a server, or a cmd/migrate calling
// the CLI's Main with it).
//
// Exactly one of Up and UpNoTx is set; at most one of Down and DownNoTx.
type GoMigration struct {
	// ID is "<number>_<name>", like a file's: 0005_backfill_emails.
	ID string
	// Checksum is the author's: any text that changes whenever what the
	// functions do changes — a version ("v1", "v2"), or a hash of their
	// source. The ledger records sha256("ledger go migration " + ID + " " +
	// Checksum) in hex, so changing it for an applied migration is a
	// checksum mismatch, as an edited file is; leaving it unchanged while
	// changing the code is the author's promise that nothing that matters
	// changed.
	Checksum string
	// Compatible is what "-- ledger:compatible" says in a file: the
	// releases that may run with this migration applied.
	Compatible string
	// Up runs in the transaction the ledger records the migration in: its
	// work and the migration.applied event commit together or not at all.
	// It must not commit or roll back tx.
	Up func(ctx context.Context, tx pgx.Tx) error
	// UpNoTx runs on the migration's connection, outside any transaction
	// (what it commits stays committed), between migration.started and
	// migration.applied; if it fails, the migration is in doubt until an
	// operator resolves it.
	UpNoTx func(ctx context.Context, conn *pgx.Conn) error
	// Down and DownNoTx revert it, the same two ways.
	Down     func(ctx context.Context, tx pgx.Tx) error
	DownNoTx func(ctx context.Context, conn *pgx.Conn) error
}

// WithGo registers Go migrations with the set being loaded.
func WithGo(migrations ...GoMigration) LoadOption {
	return func(c *loadConfig) { c.gos = append(c.gos, migrations...) }
}

// GoChecksum is the checksum the ledger records for a Go migration whose
// author's checksum is checksum.
func GoChecksum(id, checksum string) string {
	sum := sha256.Sum256([]byte("ledger go migration " + id + " " + checksum))
	return hex.EncodeToString(sum[:])
}

// goFunc is a Go migration's function for one direction.
type goFunc struct {
	tx   func(context.Context, pgx.Tx) error
	conn func(context.Context, *pgx.Conn) error
}

// addGoPair adds a Go migration to the pairs being loaded.
func addGoPair(pairs map[string]*filePair, g GoMigration) *FileError {
	file := "Go migration " + g.ID
	fail := func(hint, format string, args ...any) *FileError {
		return &FileError{File: file, Msg: fmt.Sprintf(format, args...), Hint: hint}
	}
	if _, _, err := projector.ParseID(g.ID); err != nil {
		return fail("give it an id <number>_<name>, e.g. 0005_backfill_emails", "%v", err)
	}
	if p, ok := pairs[g.ID]; ok {
		other := p.up
		if p.format == FormatGo {
			other = "another Go migration"
		}
		return fail("give one of them another id", "id %s is also %s", g.ID, other)
	}
	pairs[g.ID] = &filePair{up: file, format: FormatGo}
	return nil
}

// loadGo makes the Migration of a registered Go migration.
func loadGo(id string, cfg *loadConfig) (Migration, []*FileError, []warning) {
	var g GoMigration
	for _, x := range cfg.gos {
		if x.ID == id {
			g = x
		}
	}
	num, name, _ := projector.ParseID(id)
	file := "Go migration " + id
	m := Migration{ID: id, Number: num, Name: name, Format: FormatGo, Compatible: g.Compatible}
	var errs []*FileError
	fail := func(hint, format string, args ...any) {
		errs = append(errs, &FileError{File: file, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	switch {
	case g.Up == nil && g.UpNoTx == nil:
		fail("set Up (in the ledger's transaction) or UpNoTx (outside any transaction)", "no Up function")
	case g.Up != nil && g.UpNoTx != nil:
		fail("keep one: Up runs in the ledger's transaction, UpNoTx outside any", "both Up and UpNoTx are set")
	}
	if g.Down != nil && g.DownNoTx != nil {
		fail("keep one: Down runs in the ledger's transaction, DownNoTx outside any", "both Down and DownNoTx are set")
	}
	if g.Checksum == "" {
		fail(`set Checksum to a version ("v1") you change whenever what the migration does changes`, "no Checksum: a Go migration's checksum is its author's")
	}
	if g.Compatible != "" {
		if _, err := semver.NewConstraint(g.Compatible); err != nil {
			fail(`use a semver constraint, e.g. ">=1.2.0 <2.0.0"`, "invalid compatibility constraint %q: %v", g.Compatible, err)
		}
	}
	m.Checksum = GoChecksum(id, g.Checksum)
	m.Up = Script{File: file, Checksum: m.Checksum, NoTransaction: g.UpNoTx != nil, goFn: &goFunc{tx: g.Up, conn: g.UpNoTx}}
	if g.Down != nil || g.DownNoTx != nil {
		m.Down = &Script{File: file + " (down)", NoTransaction: g.DownNoTx != nil, goFn: &goFunc{tx: g.Down, conn: g.DownNoTx}}
	}
	return m, errs, nil
}
