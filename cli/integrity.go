package cli

import "github.com/schema-ledger/ledger/ledger"

// isIntegrityError reports whether err says the ledger cannot be trusted
// (ledger.IsIntegrityError): exit 5, whatever the command.
func isIntegrityError(err error) bool { return ledger.IsIntegrityError(err) }
