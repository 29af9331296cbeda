package cli

import (
	"errors"

	"github.com/schema-ledger/ledger/ledger"
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
