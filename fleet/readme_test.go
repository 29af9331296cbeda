package fleet_test

import (
	"testing"

	"github.com/schema-ledger/ledger/internal/readmetest"
)

// The README's rollout snippet is a whole program, built against this module.
func TestREADMESnippetBuilds(t *testing.T) {
	t.Parallel()
	readmetest.Build(t, "## Fleet rollouts", nil)
}
