package foreign

import "testing"

// The search's first step may keep a relation identify refuses, never drop
// one it accepts: for every table built from the columns the tools' rules
// look at, each absent or of a type that matters to them, a table identify
// accepts is one mayBeHistory keeps.
func TestCandidatesKeepEveryHistoryTable(t *testing.T) {
	names := []string{"version", "version_id", "installed_rank", "dirty", "is_applied", "script", "success", "checksum"}
	types := []struct {
		name string
		oid  uint32
	}{{"", 0}, {"integer", typeInt4}, {"bigint", typeInt8}, {"boolean", typeBool}, {"text", 25}}
	combos, accepted := 0, 0
	choice := make([]int, len(names))
	for {
		var cols, typs []string
		first := map[string]uint32{}
		for i, c := range choice {
			if c == 0 {
				continue
			}
			cols, typs = append(cols, names[i]), append(typs, types[c].name)
			if i < 5 { // the columns candidatesSQL reads
				first[names[i]] = types[c].oid
			}
		}
		for _, table := range []string{"schema_version", "history"} {
			combos++
			if tool, ok := identify(table, cols, typs); ok {
				accepted++
				if !mayBeHistory(first) {
					t.Fatalf("%s %v %v is %s's history, but the first step drops it", table, cols, typs, tool)
				}
			}
		}
		i := 0
		for ; i < len(choice); i++ {
			if choice[i]++; choice[i] < len(types) {
				break
			}
			choice[i] = 0
		}
		if i == len(choice) {
			break
		}
	}
	if accepted == 0 {
		t.Fatalf("none of %d tables was a history table", combos)
	}
	t.Logf("%d tables, %d of them history tables", combos, accepted)
}
