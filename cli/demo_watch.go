//go:build !ledger_nonats

package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/watch"
)

// demoWatch is `ledger watch` guarding release 1.2.0 beside the demo's
// story: it follows the relay's stream, reads the schema for drift, and
// its alerts are shown after each step ([watch 1.2.0] lines).
type demoWatch struct {
	w    *watch.Watcher
	stop context.CancelFunc
	done chan error
	mu   sync.Mutex
	buf  strings.Builder
}

func (d *demoWatch) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.Write(p)
}

func startDemoWatch(ctx context.Context, bus *demoBus, known policy.Manifest, pool *pgxpool.Pool, store *ledger.Store) (*demoWatch, error) {
	d := &demoWatch{done: make(chan error, 1)}
	w, err := watch.New(bus.js, known, policy.Strict, watch.WithNames(bus.names), watch.WithOutput(d, false),
		watch.WithSchemaPolling(pool, store, time.Hour)) // the demo asks for a schema read when it wants one
	if err != nil {
		return nil, err
	}
	d.w = w
	wctx, stop := context.WithCancel(ctx)
	d.stop = stop
	go func() { d.done <- w.Run(wctx) }()
	return d, nil
}

// flush waits until the watcher has folded the ledger's head and prints
// the alerts it raised since the last flush.
func (d *demoWatch) flush(ctx context.Context, out interface{ Write([]byte) (int, error) }, store *ledger.Store) error {
	h, err := store.Head(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.w.WaitSeq(wctx, h.Seq); err != nil {
		return fmt.Errorf("the watcher did not reach event %d within 15s: %w", h.Seq, err)
	}
	d.mu.Lock()
	text := d.buf.String()
	d.buf.Reset()
	d.mu.Unlock()
	if text = strings.TrimSpace(text); text != "" {
		fmt.Fprintf(out, "\n%s\n", indent(text, "  [watch 1.2.0] "))
	}
	return nil
}

// close stops the watcher and, on an outside NATS server, deletes its
// alerts stream unless keep (as the bus does with the events stream).
func (d *demoWatch) close(ctx context.Context, bus *demoBus, keep bool) {
	d.stop()
	<-d.done
	if bus.embedded == nil && !keep {
		_ = bus.js.DeleteStream(ctx, d.w.AlertStreamConfig().Name)
	}
}
