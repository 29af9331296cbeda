// Command migrate is what a project with Go migrations builds: its own
// binary, with every ledger command (up, down, status, check, verify, lint,
// adopt, …), whose set holds the SQL files of --dir and the Go migrations
// compiled in here. It has the shape of Hatchet's history at its first Go
// migration: goose files, a NO TRANSACTION file that repeats the annotation
// after -- +goose Down, a Go data migration in the ledger's transaction, a
// goose file relying on it, and a no-transaction Go migration.
//
//	go build -o migrate ./examples/migrate
//	./migrate up --dir examples/migrate/migrations
//	./migrate status --dir examples/migrate/migrations
package main

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/cli"
	"github.com/schema-ledger/ledger/migrations"
)

// backfillStepNames is a data migration, as goose users write them with
// goose.AddMigrationContext: it runs in the transaction the ledger records
// it in, so its updates and its migration.applied commit together.
var backfillStepNames = migrations.GoMigration{
	ID:       "00003_backfill_step_names",
	Checksum: "v1", // changed whenever what Up or Down does changes
	Up: func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, action FROM steps WHERE readable_id IS NULL ORDER BY id")
		if err != nil {
			return err
		}
		type step struct {
			ID     int64
			Action string
		}
		steps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[step])
		if err != nil {
			return err
		}
		for _, s := range steps {
			name := strings.ReplaceAll(strings.ToLower(s.Action), ":", "-")
			if _, err := tx.Exec(ctx, "UPDATE steps SET readable_id = $1 WHERE id = $2", name, s.ID); err != nil {
				return err
			}
		}
		return nil
	},
	Down: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE steps SET readable_id = NULL")
		return err
	},
}

// indexStepsByWorker builds an index without blocking writes: outside any
// transaction, on the migration's connection.
var indexStepsByWorker = migrations.GoMigration{
	ID:       "00005_index_steps_by_worker",
	Checksum: "v1",
	UpNoTx: func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS steps_worker_id ON steps (worker_id)")
		return err
	},
	DownNoTx: func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS steps_worker_id")
		return err
	},
}

func main() {
	cli.Main(cli.WithGoMigrations(backfillStepNames, indexStepsByWorker))
}
