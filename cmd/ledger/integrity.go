package main

import (
	"errors"
	"slices"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// isIntegrityError reports whether err says the ledger cannot be trusted (a
// head or projection that does not match the state committed in the newest
// event, a newest event that does not match its hash, a format-1 ledger
// that does not verify): exit 5, whatever the command.
func isIntegrityError(err error) bool {
	var corrupt *ledger.CorruptHeadError
	var upgrade *ledger.UpgradeError
	return errors.As(err, &corrupt) || errors.As(err, &upgrade)
}

// sortedInDoubt lists the migrations in doubt in id order.
func sortedInDoubt(m map[string]projector.InDoubt) []projector.InDoubt {
	out := make([]projector.InDoubt, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b projector.InDoubt) int { return projector.CompareIDs(a.ID, b.ID) })
	return out
}
