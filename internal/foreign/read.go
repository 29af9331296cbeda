package foreign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Row is one entry of a history that says migrations are applied.
type Row struct {
	Version string `json:"version"` // as the source writes it ("" for a Flyway repeatable migration)
	Number  string `json:"-"`       // Version as a decimal without leading zeros; "" if it is not one
	// UpTo: the source records only that everything up to Number is
	// applied (golang-migrate's and tern's one row, a Flyway BASELINE).
	UpTo bool `json:"up_to,omitempty"`

	// What the source kept, as it stored it.
	AppliedAt   string `json:"applied_at,omitempty"` // goose tstamp, Flyway installed_on (timestamp without time zone, as text)
	Rank        *int64 `json:"rank,omitempty"`       // goose id, Flyway installed_rank
	Checksum    *int32 `json:"checksum,omitempty"`   // Flyway's CRC32
	InstalledBy string `json:"installed_by,omitempty"`
	ExecutionMS *int64 `json:"execution_ms,omitempty"`
	Script      string `json:"script,omitempty"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"` // Flyway's row type: SQL, JDBC, BASELINE, …
}

// History is what a tool's table says is applied.
type History struct {
	Table   Table  `json:"table"`
	Version string `json:"version"` // the tool's current version, as it would report it ("" none)
	Rows    []Row  `json:"rows"`    // in the order the source applied them
	Ignored []Row  `json:"ignored,omitempty"`
}

// StateError: the source's history is in a state that must be fixed with
// the source tool before it can be adopted.
type StateError struct {
	Table   Table
	Problem string
	Fix     string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%s history %s cannot be adopted: %s\n  fix it first: %s", e.Table.Tool, e.Table, e.Problem, e.Fix)
}

// Read reads the history in table. It refuses (with a *StateError) a
// history in a bad state: golang-migrate's dirty flag, a failed Flyway row.
func Read(ctx context.Context, q Querier, t Table) (History, error) {
	h := History{Table: t}
	var err error
	switch t.Tool {
	case Goose:
		err = readGoose(ctx, q, &h)
	case GolangMigrate:
		err = readGolangMigrate(ctx, q, &h)
	case Tern:
		err = readTern(ctx, q, &h)
	case Flyway:
		err = readFlyway(ctx, q, &h)
	default:
		err = fmt.Errorf("unknown tool %q", t.Tool)
	}
	if err != nil {
		var se *StateError
		if errors.As(err, &se) {
			return h, err
		}
		return h, fmt.Errorf("read %s history %s: %w", t.Tool, t, err)
	}
	return h, nil
}

// readGoose: the latest row of each version (by id) says whether it is
// applied; goose v3's down deletes a version's rows, older gooses insert
// is_applied = false.
func readGoose(ctx context.Context, q Querier, h *History) error {
	rows, err := q.Query(ctx, "SELECT id::bigint, version_id::bigint, is_applied, tstamp::text FROM "+h.Table.ident()+" ORDER BY id")
	if err != nil {
		return err
	}
	type entry struct {
		row     Row
		applied bool
	}
	latest := map[string]int{}
	var all []entry
	for rows.Next() {
		var id, version int64
		var applied bool
		var tstamp *string
		if err := rows.Scan(&id, &version, &applied, &tstamp); err != nil {
			rows.Close()
			return err
		}
		r := Row{Version: itoa(version), Number: normalise(itoa(version)), Rank: &id}
		if tstamp != nil {
			r.AppliedAt = *tstamp
		}
		if version == 0 {
			continue // goose's marker of a new table, not a migration
		}
		if i, ok := latest[r.Version]; ok {
			all[i].applied = false // superseded
			all[i].row.Type = "superseded"
		}
		latest[r.Version] = len(all)
		all = append(all, entry{r, applied})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, e := range all {
		if latest[e.row.Version] != i {
			continue
		}
		if !e.applied {
			e.row.Type = "not applied (is_applied = false)"
			h.Ignored = append(h.Ignored, e.row)
			continue
		}
		h.Rows = append(h.Rows, e.row)
		if h.Version == "" || decimalLess(h.Version, e.row.Number) {
			h.Version = e.row.Number
		}
	}
	return nil
}

func readGolangMigrate(ctx context.Context, q Querier, h *History) error {
	rows, err := q.Query(ctx, "SELECT version::bigint, dirty FROM "+h.Table.ident())
	if err != nil {
		return err
	}
	type vd struct {
		version int64
		dirty   bool
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vd, error) {
		var x vd
		return x, r.Scan(&x.version, &x.dirty)
	})
	if err != nil {
		return err
	}
	switch {
	case len(got) == 0:
		return nil // golang-migrate's "no migration" (NilVersion)
	case len(got) > 1:
		return &StateError{Table: h.Table,
			Problem: fmt.Sprintf("it holds %d rows; golang-migrate keeps exactly one (the current version)", len(got)),
			Fix:     "see which version the database is at, then `migrate force VERSION`"}
	case got[0].dirty:
		v := got[0].version
		return &StateError{Table: h.Table,
			Problem: fmt.Sprintf("version %d is dirty: its migration failed part-way, so the schema is neither before nor after it", v),
			Fix: fmt.Sprintf("repair the schema by hand, then `migrate force %d` if migration %d took effect (or force the version before it if not), then adopt again",
				v, v)}
	}
	v := itoa(got[0].version)
	h.Version = v
	h.Rows = []Row{{Version: v, Number: normalise(v), UpTo: true}}
	return nil
}

func readTern(ctx context.Context, q Querier, h *History) error {
	rows, err := q.Query(ctx, "SELECT version::bigint FROM "+h.Table.ident())
	if err != nil {
		return err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	switch {
	case len(got) != 1:
		return &StateError{Table: h.Table,
			Problem: fmt.Sprintf("it holds %d rows; tern keeps exactly one (the number of migrations applied)", len(got)),
			Fix:     "leave one row with the number of the last migration applied"}
	case got[0] < 0:
		return &StateError{Table: h.Table, Problem: fmt.Sprintf("version %d is negative", got[0]), Fix: "set it to the number of the last migration applied"}
	case got[0] == 0:
		h.Version = "0"
		return nil // tern's new table: nothing applied
	}
	v := itoa(got[0])
	h.Version = v
	h.Rows = []Row{{Version: v, Number: v, UpTo: true}}
	return nil
}

func readFlyway(ctx context.Context, q Querier, h *History) error {
	rows, err := q.Query(ctx, `SELECT installed_rank::bigint, version::text, description::text, type::text, script::text,
		checksum::int, installed_by::text, installed_on::text, execution_time::bigint, success::boolean
		FROM `+h.Table.ident()+` ORDER BY installed_rank`)
	if err != nil {
		return err
	}
	var (
		failed []string
		byVer  = map[string]int{} // version -> index in h.Rows of its applied row
	)
	for rows.Next() {
		var (
			rank                       int64
			version, desc, typ, script *string
			checksum                   *int32
			by, on                     *string
			execMS                     *int64
			success                    bool
		)
		if err := rows.Scan(&rank, &version, &desc, &typ, &script, &checksum, &by, &on, &execMS, &success); err != nil {
			rows.Close()
			return err
		}
		r := Row{Rank: &rank, Checksum: checksum, ExecutionMS: execMS}
		r.Version, r.Description, r.Type, r.Script, r.InstalledBy, r.AppliedAt = deref(version), deref(desc), deref(typ), deref(script), deref(by), deref(on)
		r.Number = normalise(r.Version)
		if !success {
			failed = append(failed, fmt.Sprintf("rank %d, version %s (%s)", rank, orDash(r.Version), orDash(r.Script)))
			continue
		}
		switch {
		case r.Type == "SCHEMA":
			h.Ignored = append(h.Ignored, r) // Flyway created the schema: not a migration
			continue
		case r.Type == "DELETE" || strings.HasPrefix(r.Type, "UNDO_"):
			// Later row taking the version back (repair's delete marker, an undo).
			if i, ok := byVer[r.Version]; ok {
				h.Ignored = append(h.Ignored, h.Rows[i])
				h.Rows = slices.Delete(h.Rows, i, i+1)
				delete(byVer, r.Version)
				for v, j := range byVer {
					if j > i {
						byVer[v] = j - 1
					}
				}
			}
			h.Ignored = append(h.Ignored, r)
			continue
		case r.Type == "BASELINE":
			r.UpTo = true
		}
		if r.Version != "" {
			byVer[r.Version] = len(h.Rows)
			h.Version = r.Version
		}
		h.Rows = append(h.Rows, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return &StateError{Table: h.Table,
			Problem: fmt.Sprintf("%d failed migration(s) (success = false): %s", len(failed), strings.Join(failed, "; ")),
			Fix:     "undo what the failed migration did, then `flyway repair` (it removes the failed rows), then adopt again"}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// decimalLess compares two decimals without leading zeros by value.
func decimalLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
