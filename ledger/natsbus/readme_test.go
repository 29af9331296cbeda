package natsbus_test

import (
	"testing"

	"github.com/schema-ledger/ledger/internal/readmetest"
)

// The README's relay snippet is a whole program: it is extracted and built
// against this module, so it cannot drift from the API.
func TestREADMERelaySnippetBuilds(t *testing.T) {
	readmetest.Build(t, "## NATS: the relay", nil)
}
