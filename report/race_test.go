//go:build race

package report_test

// raceEnabled: the race detector slows the report several times, so its
// time bound is not checked.
const raceEnabled = true
