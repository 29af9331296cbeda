package migrations

import (
	"fmt"
	"slices"
	"strings"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Direction says whether a plan applies or reverts migrations.
type Direction int

// The directions of a plan.
const (
	DirUp Direction = iota
	DirDown
)

func (d Direction) String() string {
	if d == DirDown {
		return "down"
	}
	return "up"
}

// Target is what a plan aims at.
type Target struct {
	Direction Direction
	// ID: up applies pending migrations up to and including ID; down reverts
	// every applied migration ordered after ID (ID itself stays). For down,
	// "0" reverts everything. A version number names the migration with that
	// number (4 is 0004_add_orders; a Flyway version 1.1 its V1.1__ file),
	// as goose and golang-migrate take it.
	ID string
	// Steps: down reverts the newest Steps applied migrations; up applies
	// the next Steps pending ones (goose's up-by-one, migrate up N).
	Steps int
	// UseRecorded (down only): revert migrations this set does not know with
	// the down SQL recorded in their migration.applied events.
	UseRecorded bool
	// AppVersion and Policy decide whether an up may proceed (see policy).
	AppVersion string
	Policy     policy.Policy
}

// Step is one migration to apply or revert: the script that runs, where it
// came from, and (through its methods) what it records. Steps have no
// direction-specific paths: the executor runs any step the same way.
type Step struct {
	ID        string
	Direction Direction
	// Migration is the set's migration; nil for a migration this set does not
	// know, reverted with its recorded down SQL.
	Migration *Migration
	// Recorded is the ledger's record of an applied migration (down only).
	Recorded *projector.Migration
	// Script is what runs: the up file, the down file, or the down SQL
	// recorded in the ledger — nil in a plan until the runner has read that
	// from the ledger under its lock.
	Script *Script
	// Source (down only): projector.DownFromFile or DownFromRecorded.
	Source string
	// Attempt is the attempt a failure of this step is recorded as.
	Attempt int
	// AllowedBreaking (up only): the running releases this migration makes
	// refuse, recorded in its event when the run allows breaking them.
	AllowedBreaking []projector.BrokenRelease
	// Rollout (up only): the fleet rollout the step is part of, recorded in its event.
	Rollout string
}

// UsesRecorded reports whether the step runs the down SQL recorded in the ledger.
func (s Step) UsesRecorded() bool {
	return s.Direction == DirDown && s.Source == projector.DownFromRecorded
}

// Plan is the ordered steps to reach a target, computed without a database.
type Plan struct {
	Direction Direction
	Steps     []Step
	// Verdict is the policy's verdict on the state the plan starts from (up).
	Verdict policy.Verdict
}

// IDs lists the plan's migration ids in order.
func (p Plan) IDs() []string {
	ids := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		ids[i] = s.ID
	}
	return ids
}

// Manifest describes the set for the policy: its ids and checksums.
func (s *Set) Manifest(appVersion string) policy.Manifest {
	m := policy.Manifest{AppVersion: appVersion, Migrations: make([]policy.Known, len(s.Migrations))}
	for i, mig := range s.Migrations {
		m.Migrations[i] = policy.Known{ID: mig.ID, Checksum: mig.Checksum}
	}
	return m
}

// Digest is the applied-set digest the ledger's head holds once exactly this
// set is applied.
func (s *Set) Digest() projector.Digest {
	var d projector.Digest
	for _, m := range s.Migrations {
		d = d.Add(m.ID, m.Checksum)
	}
	return d
}

// Plan computes the steps from state to target for this set. It is pure: no
// database, no clock. A state the plan may not proceed from is a *PlanError
// naming every reason (unknown migrations, a changed checksum, a migration in
// doubt, a pending migration ordered before an applied one, a down file
// missing).
func (set *Set) Plan(state projector.State, t Target) (Plan, error) {
	if t.Direction == DirDown {
		return set.planDown(state, t)
	}
	return set.planUp(state, t)
}

// resolveTarget reads a target as an id, or — as goose and golang-migrate
// take it (up --to 4, down --to 3) — as a version: the number of a
// migration (4 is 0004_add_orders), or a Flyway version (1.1). Among ids
// (the set's, and for down the ledger's applied ones), the migration it
// names; the target as given when it names none (the caller reports it).
func resolveTarget(target string, ids ...func(yield func(string) bool)) string {
	if target == "" || target == "0" {
		return target
	}
	var byNumber []string
	digits := strings.Trim(target, "0123456789") == ""
	for _, seq := range ids {
		for id := range seq {
			if id == target {
				return id
			}
			num, _, err := projector.ParseID(id)
			if err != nil {
				continue
			}
			if digits && strings.TrimLeft(num, "0") == strings.TrimLeft(target, "0") && !slices.Contains(byNumber, id) {
				byNumber = append(byNumber, id)
			}
		}
	}
	if len(byNumber) == 1 {
		return byNumber[0]
	}
	return target
}

func setIDs(set *Set) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, m := range set.Migrations {
			if !yield(m.ID) {
				return
			}
		}
	}
}

// flywayTarget reads a Flyway version target (1.1) among a Flyway set.
func (set *Set) flywayTarget(target string) string {
	if strings.Trim(target, "0123456789._") != "" || !strings.ContainsAny(target, "._") {
		return target
	}
	for _, m := range set.Migrations {
		if m.Format == FormatFlyway && FlywayVersion(m.Version) == FlywayVersion(target) {
			return m.ID
		}
	}
	return target
}

func (set *Set) planUp(state projector.State, t Target) (Plan, error) {
	p := Plan{Direction: DirUp}
	switch {
	case t.Steps < 0:
		return p, &PlanError{Direction: DirUp, BadTarget: true, Reasons: []string{fmt.Sprintf("steps %d: want a positive number", t.Steps)}}
	case t.Steps > 0 && t.ID != "":
		return p, &PlanError{Direction: DirUp, BadTarget: true, Reasons: []string{"give a target id or a number of steps, not both"}}
	}
	t.ID = resolveTarget(set.flywayTarget(t.ID), setIDs(set))
	if t.ID != "" {
		if _, ok := set.Lookup(t.ID); !ok {
			return p, &PlanError{Direction: DirUp, BadTarget: true, Reasons: []string{fmt.Sprintf("target %s is not a migration of this set (%s)", t.ID, set.describe())}}
		}
	}
	p.Verdict = policy.Evaluate(set.Manifest(t.AppVersion), state, t.Policy)
	if p.Verdict.Decision == policy.Refuse {
		return p, &PlanError{Direction: DirUp, Verdict: &p.Verdict}
	}
	for _, id := range p.Verdict.Pending {
		if t.ID != "" && projector.CompareIDs(id, t.ID) > 0 {
			break
		}
		if t.Steps > 0 && len(p.Steps) == t.Steps {
			break
		}
		m, _ := set.Lookup(id)
		p.Steps = append(p.Steps, Step{ID: id, Direction: DirUp, Migration: &m, Script: &m.Up, Attempt: state.Failed[id].Attempt + 1})
	}
	return p, nil
}

func (set *Set) planDown(state projector.State, t Target) (Plan, error) {
	p := Plan{Direction: DirDown}
	var reasons []string
	switch {
	case t.Steps < 0:
		return p, &PlanError{Direction: DirDown, Reasons: []string{fmt.Sprintf("steps %d: want a positive number", t.Steps)}}
	case t.Steps > 0 && t.ID != "":
		return p, &PlanError{Direction: DirDown, Reasons: []string{"give a target id or a number of steps, not both"}}
	case t.Steps == 0 && t.ID == "":
		return p, &PlanError{Direction: DirDown, BadTarget: true, Reasons: []string{"give a target id (\"0\" for everything) or a number of steps"}}
	}
	t.ID = resolveTarget(set.flywayTarget(t.ID), setIDs(set), func(yield func(string) bool) {
		for id := range state.Applied {
			if !yield(id) {
				return
			}
		}
	})
	if t.ID != "" && t.ID != "0" {
		_, applied := state.Applied[t.ID]
		_, known := set.Lookup(t.ID)
		if !applied && !known {
			return p, &PlanError{Direction: DirDown, BadTarget: true, Reasons: []string{fmt.Sprintf("target %s is neither applied nor a migration of this set", t.ID)}}
		}
	}
	integrity := len(state.InDoubt) > 0
	var fixes []Fix
	for _, d := range sortedDoubt(state) {
		reasons = append(reasons, fmt.Sprintf("migration %s is in doubt (started %s by %s, never finished): settle it first", d.ID, d.StartedAt.UTC().Format("2006-01-02T15:04:05Z"), orUnknown(d.AppVersion)))
		fixes = append(fixes, Fix{Action: FixSettle, ID: d.ID, From: d.StatementsDone + 1})
	}
	applied := state.Sorted()
	slices.Reverse(applied) // newest first
	var unknown []string
	for i, rec := range applied {
		if t.Steps > 0 && i >= t.Steps {
			break
		}
		if t.ID != "" && t.ID != "0" && projector.CompareIDs(rec.ID, t.ID) <= 0 {
			break
		}
		rec := rec
		step := Step{ID: rec.ID, Direction: DirDown, Recorded: &rec, Source: projector.DownFromRecorded, Attempt: 1}
		if m, ok := set.Lookup(rec.ID); ok {
			switch {
			case m.Checksum != rec.Checksum:
				integrity = true
				reasons = append(reasons, fmt.Sprintf("migration %s: the up file's checksum %s differs from the one recorded when it was applied (%s): this set's down file may not undo what ran", rec.ID, short(m.Checksum), short(rec.Checksum)))
			case m.Down == nil:
				hint := ""
				if rec.DownChecksum != "" {
					hint = " (its down SQL was recorded when it was applied, but this set has no down for it)"
				}
				reasons = append(reasons, fmt.Sprintf("migration %s %s%s", rec.ID, m.NoDown(), hint))
			}
			step.Migration, step.Script, step.Source = &m, m.Down, projector.DownFromFile
		} else {
			unknown = append(unknown, rec.ID)
			if t.UseRecorded && rec.DownChecksum == "" {
				reasons = append(reasons, fmt.Sprintf("migration %s is not in this set and no down SQL was recorded when it was applied (by %s)", rec.ID, orUnknown(rec.AppVersion)))
			}
		}
		p.Steps = append(p.Steps, step)
	}
	if len(unknown) > 0 && !t.UseRecorded {
		reasons = append(reasons, fmt.Sprintf("%d migration(s) to revert are not in this set: %s; revert them with the binary that ships them, or with the down SQL recorded when they were applied", len(unknown), strings.Join(unknown, ", ")))
		fixes = append(fixes, Fix{Action: FixUseRecorded})
	}
	if len(reasons) > 0 {
		return p, &PlanError{Direction: DirDown, Reasons: reasons, Unknown: unknown, Integrity: integrity, Fixes: fixes}
	}
	return p, nil
}

func (set *Set) describe() string {
	if len(set.Migrations) == 0 {
		return "the set is empty"
	}
	return fmt.Sprintf("%d migrations, %s … %s", len(set.Migrations), set.Migrations[0].ID, set.Migrations[len(set.Migrations)-1].ID)
}

func sortedDoubt(s projector.State) []projector.InDoubt {
	out := make([]projector.InDoubt, 0, len(s.InDoubt))
	for _, d := range s.InDoubt {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b projector.InDoubt) int { return projector.CompareIDs(a.ID, b.ID) })
	return out
}

func short(sum string) string {
	if sum == "" {
		return "(none)"
	}
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown release"
	}
	return s
}
