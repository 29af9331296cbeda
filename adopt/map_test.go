package adopt

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/internal/foreign"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

func testSet(t *testing.T, ids ...string) *migrations.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, id := range ids {
		fsys[id+".up.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;\n")}
	}
	set, err := migrations.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestMapHistory(t *testing.T) {
	set := testSet(t, "0001_a", "0002_b", "0003_c", "0010_d")
	rank := int64(1)
	cases := []struct {
		name               string
		rows               []foreign.Row
		ids, unmapped, pen []string
	}{
		{name: "golang-migrate version 2: everything up to 2",
			rows: []foreign.Row{{Version: "2", Number: "2", UpTo: true}},
			ids:  []string{"0001_a", "0002_b"}, pen: []string{"0003_c", "0010_d"}},
		{name: "golang-migrate version with no file: the files below it are applied, the versions after them unmapped",
			rows:     []foreign.Row{{Version: "5", Number: "5", UpTo: true}},
			ids:      []string{"0001_a", "0002_b", "0003_c"},
			unmapped: []string{"4–5"}, pen: []string{"0010_d"}},
		{name: "golang-migrate one version past the set",
			rows:     []foreign.Row{{Version: "4", Number: "4", UpTo: true}},
			ids:      []string{"0001_a", "0002_b", "0003_c"},
			unmapped: []string{"4"}, pen: []string{"0010_d"}},
		{name: "goose rows by number, out of order",
			rows: []foreign.Row{{Version: "1", Number: "1"}, {Version: "10", Number: "10", Rank: &rank}, {Version: "3", Number: "3"}},
			ids:  []string{"0001_a", "0003_c", "0010_d"}, pen: []string{"0002_b"}},
		{name: "flyway baseline below the first file, dotted and repeatable rows unmapped",
			rows: []foreign.Row{{Version: "1", Number: "1", UpTo: true, Type: "BASELINE"}, {Version: "2", Number: "2", Type: "SQL"},
				{Version: "2.1", Type: "SQL"}, {Version: "", Script: "R__views.sql", Type: "SQL"}},
			ids: []string{"0001_a", "0002_b"}, unmapped: []string{"2.1", ""}, pen: []string{"0003_c", "0010_d"}},
		{name: "flyway baseline at a version with no file still covers those below",
			rows: []foreign.Row{{Version: "5", Number: "5", UpTo: true, Type: "BASELINE"}},
			ids:  []string{"0001_a", "0002_b", "0003_c"}, pen: []string{"0010_d"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mapHistory(set, foreign.History{Rows: c.rows})
			if !slices.Equal(m.ids, c.ids) {
				t.Errorf("ids = %v, want %v", m.ids, c.ids)
			}
			var un []string
			for _, u := range m.unmapped {
				un = append(un, u.Version)
			}
			if !slices.Equal(un, c.unmapped) {
				t.Errorf("unmapped = %v, want %v", un, c.unmapped)
			}
			rep := m.report(set, projector.NewState())
			if !slices.Equal(rep.Pending, append([]string{}, c.pen...)) {
				t.Errorf("pending = %v, want %v", rep.Pending, c.pen)
			}
		})
	}
}

// What the ledger already holds is not recorded again.
func TestReportSkipsRecorded(t *testing.T) {
	set := testSet(t, "0001_a", "0002_b", "0003_c")
	m := mapHistory(set, foreign.History{Rows: []foreign.Row{{Version: "3", Number: "3", UpTo: true}}})
	state := projector.NewState()
	state.Applied["0001_a"] = projector.Migration{ID: "0001_a", Checksum: "x"}
	rep := m.report(set, state)
	if !slices.Equal(rep.AlreadyRecorded, []string{"0001_a"}) || len(rep.Adopted) != 2 || rep.Adopted[0].ID != "0002_b" {
		t.Errorf("report = %+v", rep)
	}
}
