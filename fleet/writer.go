package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// writer records a rollout's events in the control ledger from one
// goroutine, in the order they were put, appending what arrives within
// linger of each other in one transaction: a thousand outcomes do not
// cost a thousand commits on the control ledger's head. Recording goes on
// after ctx is cancelled (an interrupted rollout is recorded as such). An
// event lost to a kill loses nothing: a target without a recorded outcome
// runs again on resume.
type writer struct {
	ch   chan projector.Event
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// maxBatch bounds the events appended in one transaction.
const maxBatch = 256

// linger is how long the writer waits, after an event arrives, for more
// to append with it. Without it a batch was what queued up during the
// previous commit — one or two outcomes when targets are at the set
// (1,000 outcomes made 650 transactions on the control ledger, each a
// commit and a WAL flush). An event lost to a kill in that window loses
// nothing (see writer).
const linger = 50 * time.Millisecond

func newWriter(ctx context.Context, ctl *Control, release string) *writer {
	w := &writer{ch: make(chan projector.Event, maxBatch), done: make(chan struct{})}
	rctx := context.WithoutCancel(ctx)
	go func() {
		defer close(w.done)
		batch := make([]projector.Event, 0, maxBatch)
		wait := time.NewTimer(linger)
		for ev := range w.ch {
			batch = append(batch[:0], ev)
			wait.Reset(linger)
		gather:
			for len(batch) < maxBatch {
				select {
				case ev, ok := <-w.ch:
					if !ok {
						break gather // closed: the rest goes now
					}
					batch = append(batch, ev)
				case <-wait.C:
					break gather
				}
			}
			wait.Stop()
			if w.failed() {
				continue
			}
			actx, cancel := context.WithTimeout(rctx, time.Minute)
			err := ctl.append(actx, release, batch...)
			cancel()
			if err != nil {
				w.fail(err)
			}
		}
	}()
	return w
}

func (w *writer) put(ev projector.Event) { w.ch <- ev }

func (w *writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// close waits for every event put to be recorded and says whether all were.
func (w *writer) close() error {
	close(w.ch)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
