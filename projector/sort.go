package projector

import "slices"

func sortMigrations(ms []Migration) {
	order := sortedOrder(len(ms), func(i int) string { return ms[i].ID })
	sorted := make([]Migration, len(ms))
	for i, j := range order {
		sorted[i] = ms[j]
	}
	copy(ms, sorted)
}

// SortedInDoubt lists the migrations in doubt of m (a State's InDoubt) in
// id order (CompareIDs).
func SortedInDoubt(m map[string]InDoubt) []InDoubt {
	out := make([]InDoubt, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	order := sortedOrder(len(out), func(i int) string { return out[i].ID })
	sorted := make([]InDoubt, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted
}

// SortIDs orders migration ids in place (CompareIDs).
func SortIDs(ids []string) {
	order := sortedOrder(len(ids), func(i int) string { return ids[i] })
	sorted := make([]string, len(ids))
	for i, j := range order {
		sorted[i] = ids[j]
	}
	copy(ids, sorted)
}

// sortedOrder is the order of n ids by CompareIDs, each parsed once.
func sortedOrder(n int, id func(int) string) []int {
	keys := make([]idKey, n)
	order := make([]int, n)
	for i := range n {
		keys[i], order[i] = keyOf(id(i)), i
	}
	slices.SortFunc(order, func(a, b int) int { return keys[a].compare(keys[b]) }) // a total order: stable anyway
	return order
}
