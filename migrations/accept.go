package migrations

import (
	"context"
	"fmt"
	"strings"

	"github.com/schema-ledger/ledger/projector"
)

// Accept records an intentional change to the file of applied migration id
// (line endings normalised, a comment fixed): the checksum of the set's file
// replaces the one recorded, with the reason and the database user, in a
// migration.accepted event — Flyway's repair, but audited. Without it a
// changed file stays a checksum mismatch. The checksum it replaces stays
// valid too: both files are the same migration, so a release still
// shipping the file as it was applied is not refused for it (nor is one
// judged by up's guard). It takes the migration lock.
func (r *Runner) Accept(ctx context.Context, id, reason string) (projector.Accepted, error) {
	var out projector.Accepted
	if strings.TrimSpace(reason) == "" {
		return out, fmt.Errorf("accept %s: give a reason: it is recorded for the auditors", id)
	}
	m, ok := r.set.Lookup(id)
	if !ok {
		return out, fmt.Errorf("accept %s: no such migration in the set; accept takes the id of a migration whose file changed", id)
	}
	err := r.locked(ctx, lockWrite, func(s *session) error {
		applied, ok := s.app.State().Applied[id]
		switch {
		case !ok:
			return fmt.Errorf("accept %s: it is not applied, so there is no recorded checksum to replace", id)
		case applied.Checksum == m.Checksum:
			return fmt.Errorf("accept %s: its file matches the checksum recorded (%s): nothing to accept", id, short(m.Checksum))
		case applied.Matches(m.Checksum):
			return fmt.Errorf("accept %s: its file has checksum %s, accepted for it already (the one recorded now is %s): nothing to accept", id, short(m.Checksum), short(applied.Checksum))
		}
		out = projector.Accepted{ID: id, Previous: applied.Checksum, Checksum: m.Checksum, Reason: reason}
		ev, err := projector.NewEvent(projector.TypeMigrationAccepted, out)
		if err != nil {
			return err
		}
		return s.record(ctx, ev)
	})
	return out, err
}
