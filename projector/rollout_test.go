package projector_test

import (
	"testing"

	"github.com/schema-ledger/ledger/projector"
)

// A control ledger's rollout events fold without touching the projection;
// malformed ones are refused; a migration.applied carries its rollout id
// and one recorded before rollouts existed still folds.
func TestRolloutEvents(t *testing.T) {
	ev := func(seq int64, typ, payload string) projector.Event {
		return projector.Event{Seq: seq, Type: typ, PayloadVersion: 1, Payload: []byte(payload)}
	}
	good := []projector.Event{
		ev(1, projector.TypeLedgerInitialized, `{"format":3,"schema":"ledger_rollouts"}`),
		ev(2, projector.TypeRolloutStarted, `{"id":"r1","release":"1.0.0","policy":"strict","set_digest":"ab","migrations":["1_a"],"targets":[{"name":"a","url":"postgres://h/a","ledger":"ledger","server":"h:5432"}],"targets_digest":"cd","options":{"canary":1,"parallel":8,"max_failures":1},"who":"me"}`),
		ev(3, projector.TypeRolloutTarget, `{"id":"r1","target":"a","outcome":"applied","applied":["1_a"],"duration_ms":3,"seq":4,"hash":"ff"}`),
		ev(4, projector.TypeRolloutHalted, `{"id":"r1","reason":"budget","failures":1}`),
		ev(5, projector.TypeRolloutInterrupted, `{"id":"r1","reason":"interrupt"}`),
		ev(6, projector.TypeRolloutResumed, `{"id":"r1","skip":["b"],"who":"me"}`),
		ev(7, projector.TypeRolloutFinished, `{"id":"r1","at_set":0,"applied":1,"failed":0,"refused":0,"skipped":1}`),
		ev(8, projector.TypeMigrationApplied, `{"id":"1_a","checksum":"x","transactional":true,"duration_ms":1,"rollout":"r1"}`),
		ev(9, projector.TypeMigrationApplied, `{"id":"2_b","checksum":"y","transactional":true,"duration_ms":1}`),
	}
	s, err := projector.Fold(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seq != 9 || len(s.Applied) != 2 || s.Format != 3 {
		t.Fatalf("state %s", s)
	}
	bad := []struct{ name, typ, payload string }{
		{"no id", projector.TypeRolloutHalted, `{"reason":"x","failures":1}`},
		{"bad outcome", projector.TypeRolloutTarget, `{"id":"r1","target":"a","outcome":"maybe","duration_ms":1,"seq":1}`},
		{"no target", projector.TypeRolloutTarget, `{"id":"r1","outcome":"failed","duration_ms":1,"seq":1}`},
		{"duplicate target", projector.TypeRolloutStarted, `{"id":"r2","release":"1","policy":"strict","set_digest":"a","migrations":[],"targets":[{"name":"a","url":"u","ledger":"l","server":"s"},{"name":"a","url":"u","ledger":"l","server":"s"}],"targets_digest":"b","options":{"canary":0,"parallel":1,"max_failures":1},"who":"me"}`},
		{"unknown field", projector.TypeRolloutFinished, `{"id":"r1","at_set":0,"applied":1,"failed":0,"refused":0,"skipped":0,"extra":1}`},
	}
	for _, b := range bad {
		if _, err := projector.Apply(projector.NewState(), ev(1, b.typ, b.payload)); err == nil {
			t.Errorf("%s: folded", b.name)
		}
	}
}
