package projector

import "slices"

func sortMigrations(ms []Migration) {
	slices.SortFunc(ms, func(a, b Migration) int { return CompareIDs(a.ID, b.ID) })
}

// SortIDs orders migration ids in place (CompareIDs).
func SortIDs(ids []string) { slices.SortFunc(ids, CompareIDs) }
