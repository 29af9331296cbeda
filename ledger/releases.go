package ledger

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed sql/releases.sql
var releasesSQL string

// releasesMarker is the comment releases.sql sets on the timeline view last:
// when it is there, every object of the file is.
const releasesMarker = "schema-ledger releases objects v3"

// ensureReleases creates the tables of releases and sightings and the
// audit views beside the event log, if this ledger lacks them (a ledger
// created before they existed gains them on its next init or up). They are
// not part of the hash chain or the ledger format.
func (s *Store) ensureReleases(ctx context.Context, tx pgx.Tx) error {
	var marker string
	err := tx.QueryRow(ctx, "SELECT coalesce(obj_description(to_regclass($1), 'pg_class'), '')", s.q+".timeline").Scan(&marker)
	if err != nil {
		return err
	}
	if marker == releasesMarker {
		return nil
	}
	if _, err := tx.Exec(ctx, strings.ReplaceAll(releasesSQL, "{{schema}}", s.q)); err != nil {
		return fmt.Errorf("create the release tables and views of ledger schema %q: %w", s.schema, err)
	}
	return nil
}
