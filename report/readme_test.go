package report_test

import (
	"testing"

	"github.com/schema-ledger/ledger/internal/readmetest"
)

// The README's report snippet is a whole program: it is built against
// this module, so it cannot drift from the API.
func TestREADMESnippetBuilds(t *testing.T) {
	t.Parallel()
	readmetest.Build(t, "### An audit page (`ledger report`)", nil)
}
