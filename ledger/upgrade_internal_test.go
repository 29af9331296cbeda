package ledger

import (
	"strings"
	"testing"
)

// TestUpgradeStepsAreEmbedded: every format from 2 to Format has SQL, and a
// step is its files in name order.
func TestUpgradeStepsAreEmbedded(t *testing.T) {
	if len(upgrades()) != Format-1 {
		t.Fatalf("%d upgrade steps for format %d, want %d", len(upgrades()), Format, Format-1)
	}
	for i, step := range upgrades() {
		if strings.TrimSpace(step) == "" {
			t.Errorf("format %d has no sql/upgrade_v%d*.sql file", i+2, i+2)
		}
	}
}
