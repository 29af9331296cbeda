package migrations

import (
	"context"
	"fmt"
	"time"
)

// RedoReport is what a redo did.
type RedoReport struct {
	ID       string       `json:"id"` // the migration redone ("": none is applied)
	Reverted []StepResult `json:"reverted"`
	Applied  []StepResult `json:"applied"`
	Report
}

// Redo reverts the newest applied migration with its down file and
// applies it again from its up file (the edit-and-retry loop of
// development), under one migration lock. The whole redo is planned and
// judged before anything runs: the revert (a down file), the re-apply
// (its up file, the policy) and up's guard — a re-apply that would make a
// running release refuse that does not refuse now — so a redo that cannot
// finish never starts, and never leaves the database reverted. With
// nothing applied it does nothing (ID is "").
func (r *Runner) Redo(ctx context.Context) (RedoReport, error) {
	start := time.Now()
	var rep RedoReport
	err := r.locked(ctx, lockWrite, func(s *session) error {
		schema, err := s.beforeRun(ctx)
		rep.Schema = schema.report
		if err != nil {
			return err
		}
		before := s.app.State()
		down, err := r.set.Plan(before, r.target(DirDown, "", 1, false))
		if err != nil {
			return fmt.Errorf("redo: %w", err)
		}
		if len(down.Steps) == 0 {
			return nil
		}
		rep.ID = down.Steps[0].ID
		reverted := before.Clone()
		delete(reverted.Applied, rep.ID)
		up, err := r.set.Plan(reverted, r.target(DirUp, rep.ID, 0, false))
		if err != nil {
			return fmt.Errorf("redo %s: it would be reverted, but not applied again: %w", rep.ID, err)
		}
		if len(up.Steps) != 1 || up.Steps[0].ID != rep.ID {
			return fmt.Errorf("redo %s: applying it again would apply %v", rep.ID, up.IDs())
		}
		rep.Planned = []string{rep.ID}
		rep.Plan = up
		if err = r.guardFrom(ctx, s.store, reverted, &before, &up, &rep.Report); err != nil {
			return err
		}
		for i, step := range []Step{down.Steps[0], up.Steps[0]} {
			r.progress(step.Direction, step.ID, i, 2, false, start)
			t0 := time.Now()
			if err := s.exec(ctx, step, nil); err != nil {
				if i == 1 {
					return fmt.Errorf("%s was reverted, but applying it again failed: %w", rep.ID, err)
				}
				return err
			}
			res := StepResult{ID: step.ID, Duration: time.Since(t0)}
			if i == 0 {
				res.Source = step.Source
				rep.Reverted = append(rep.Reverted, res)
			} else {
				rep.Applied = append(rep.Applied, res)
			}
			rep.Done = append(rep.Done, res)
			r.progress(step.Direction, step.ID, i, 2, true, start)
		}
		if ctx.Err() == nil && !s.conn.IsClosed() {
			err = s.afterRun(ctx, &schema, true)
			rep.Schema = schema.report
		}
		return err
	})
	rep.Elapsed = time.Since(start)
	if h, herr := r.store.Head(ctx); herr == nil {
		rep.Head = h
	}
	return rep, err
}
