package fleet

import (
	"context"
	"errors"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// Rollout states.
const (
	StateRunning     = "running"   // a controller runs it now (it holds the rollout's lock)
	StateAbandoned   = "abandoned" // started or resumed, never ended, and no controller runs it: it was killed; resume it
	StateHalted      = "halted"
	StateInterrupted = "interrupted"
	StateFinished    = "finished"
)

// TargetStatus is one target of a rollout as the control ledger tells it.
type TargetStatus struct {
	projector.RolloutTarget
	State    string        `json:"state"` // its latest outcome, or "pending"
	Attempts int           `json:"attempts"`
	Applied  []string      `json:"applied,omitempty"`
	Unknown  []string      `json:"unknown,omitempty"`
	SQLState string        `json:"sqlstate,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Seq      int64         `json:"seq"`
	Hash     string        `json:"hash,omitempty"`
	At       time.Time     `json:"at,omitzero"` // when its latest outcome was recorded
	Canary   bool          `json:"canary,omitempty"`
}

// Status is a rollout as its events in the control ledger tell it.
type Status struct {
	ID            string                     `json:"id"`
	State         string                     `json:"state"`
	Release       string                     `json:"release"`
	Policy        string                     `json:"policy"`
	SetDigest     string                     `json:"set_digest"`
	Migrations    []string                   `json:"migrations"`
	TargetsDigest string                     `json:"targets_digest"`
	Options       projector.RolloutOptions   `json:"options"`
	Who           string                     `json:"who"`
	Host          string                     `json:"host"`
	Actor         string                     `json:"actor"` // the control database's user
	Started       time.Time                  `json:"started"`
	Last          time.Time                  `json:"last"` // its newest event
	Counts        Counts                     `json:"counts"`
	Halted        string                     `json:"halted,omitempty"` // why
	Interrupted   string                     `json:"interrupted,omitempty"`
	InFlight      []string                   `json:"in_flight,omitempty"`
	Resumes       []projector.RolloutResumed `json:"resumes,omitempty"`
	Targets       []TargetStatus             `json:"targets,omitempty"`
}

// AllDone reports whether every target is at the set, applied or skipped.
func (s Status) AllDone() bool { return s.Counts.Pending+s.Counts.Failed+s.Counts.Refused == 0 }

func (h *history) status(withTargets bool) Status {
	p := h.plan
	s := Status{
		ID: p.ID, Release: p.Release, Policy: p.Policy, SetDigest: p.SetDigest, Migrations: p.Migrations,
		TargetsDigest: p.TargetsDigest, Options: p.Options, Who: p.Who, Host: h.host, Actor: h.actor,
		Started: h.started, Last: h.last, Resumes: h.resumes, State: StateRunning,
	}
	switch {
	case h.finished != nil:
		s.State = StateFinished
	case h.interrupt != nil:
		s.State, s.Interrupted, s.InFlight = StateInterrupted, h.interrupt.Reason, h.interrupt.InFlight
	case h.halted != nil:
		s.State, s.Halted = StateHalted, h.halted.Reason
	}
	for _, t := range p.Targets {
		o, ok := h.outcomes[t.Name]
		state := "pending"
		if ok {
			state = o.Outcome
		}
		s.Counts.add(state, 1)
		if withTargets {
			ts := TargetStatus{RolloutTarget: t, State: state, Attempts: h.attempts[t.Name]}
			if ok {
				ts.Applied, ts.Unknown, ts.SQLState, ts.Error = o.Applied, o.Unknown, o.SQLState, o.Error
				ts.Duration, ts.Seq, ts.Hash, ts.At, ts.Canary = time.Duration(o.DurationMS)*time.Millisecond, o.Seq, o.Hash, h.at[t.Name], o.Canary
			}
			s.Targets = append(s.Targets, ts)
		}
	}
	return s
}

// Status is rollout id as the control ledger tells it, target by target.
func (c *Control) Status(ctx context.Context, id string) (Status, error) {
	h, err := c.read(ctx, id)
	if err != nil {
		return Status{}, err
	}
	st := h.status(true)
	if st.State == StateRunning {
		st.State, err = c.liveness(ctx, id)
	}
	return st, err
}

// liveness tells a rollout some controller runs now from one whose
// controller died: the rollout's lock is held, or free.
func (c *Control) liveness(ctx context.Context, id string) (string, error) {
	unlock, err := c.lock(ctx, id)
	var running *RunningError
	switch {
	case errors.As(err, &running):
		return StateRunning, nil
	case err != nil:
		return "", err
	}
	unlock()
	if _, ok := c.db.(acquirer); !ok {
		return StateRunning, nil // no lock to tell by
	}
	return StateAbandoned, nil
}

// List is every rollout of the control ledger, oldest first, without the
// per-target detail. A control ledger not created yet holds none.
func (c *Control) List(ctx context.Context) ([]Status, error) {
	order, all, err := c.readAll(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(order))
	for _, id := range order {
		st := all[id].status(false)
		if st.State == StateRunning {
			if st.State, err = c.liveness(ctx, id); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Latest is the id of the newest rollout, or "" if there is none.
func (c *Control) Latest(ctx context.Context) (string, error) {
	for e, err := range c.store.Events(ctx, latestFilter) {
		if err != nil {
			return "", ignoreMissing(err)
		}
		var p projector.RolloutStarted
		if err := jsonUnmarshal(e.Payload, &p); err != nil {
			return "", err
		}
		return p.ID, nil
	}
	return "", nil
}
