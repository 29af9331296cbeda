package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// ControlSchema is the control ledger's schema unless told otherwise.
const ControlSchema = "ledger_rollouts"

// Control is a control ledger: the ledger, in a schema of its own on a
// control database, where rollouts are recorded. It is an ordinary ledger
// (ledger.Store): hash-chained, verifiable and relayable. Safe for
// concurrent use.
type Control struct {
	store *ledger.Store
	db    ledger.DB
}

// NewControl is the control ledger in schema (ControlSchema if "") over
// db. It does not touch the database; a rollout creates the ledger when it
// starts. host is recorded with its events ("": os.Hostname).
func NewControl(db ledger.DB, schema, host string) (*Control, error) {
	if schema == "" {
		schema = ControlSchema
	}
	opts := []ledger.Option{ledger.WithSchema(schema)}
	if host != "" {
		opts = append(opts, ledger.WithHost(host))
	}
	store, err := ledger.New(db, opts...)
	if err != nil {
		return nil, err
	}
	return &Control{store: store, db: db}, nil
}

// Store is the control ledger's event store (for verify, history, relay).
func (c *Control) Store() *ledger.Store { return c.store }

// append records events in one transaction of their own.
func (c *Control) append(ctx context.Context, release string, events ...projector.Event) error {
	for i := range events {
		events[i].AppVersion = release
	}
	return pgx.BeginTxFunc(ctx, c.db, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		_, err := c.store.Append(ctx, tx, events...)
		return err
	})
}

// acquirer is a pool that hands out connections of its own (*pgxpool.Pool).
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// RunningError: another controller is running the rollout (it holds the
// rollout's lock on the control database).
type RunningError struct{ ID string }

func (e *RunningError) Error() string {
	return fmt.Sprintf("rollout %s is being run by another controller (it holds the rollout's lock on the control database); wait for it, or stop it first", e.ID)
}

// lock takes the rollout's session advisory lock on a connection of its
// own, so two controllers never run one rollout at once; the lock goes
// with release, or with the connection if the controller dies. A control
// ledger over something that is not a pool takes no lock.
func (c *Control) lock(ctx context.Context, id string) (release func(), err error) {
	pool, ok := c.db.(acquirer)
	if !ok {
		return func() {}, nil
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	key := "ledger-rollout:" + c.store.Schema() + ":" + id
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take the rollout's lock: %w", err)
	}
	if !got {
		conn.Release()
		return nil, &RunningError{ID: id}
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}, nil
}

// ErrNoRollout: the control ledger holds no rollout with that id.
var ErrNoRollout = errors.New("no such rollout")

// NoRolloutError names the rollout that is not there.
type NoRolloutError struct {
	ID     string
	Schema string
}

func (e *NoRolloutError) Error() string {
	return fmt.Sprintf("the control ledger %q holds no rollout %q", e.Schema, e.ID)
}

func (e *NoRolloutError) Unwrap() error { return ErrNoRollout }

// rolloutTypes are the event types of rollouts.
var rolloutTypes = []string{
	projector.TypeRolloutStarted, projector.TypeRolloutTarget, projector.TypeRolloutHalted,
	projector.TypeRolloutInterrupted, projector.TypeRolloutResumed, projector.TypeRolloutFinished,
}

// history is one rollout as its events tell it.
type history struct {
	plan      projector.RolloutStarted
	started   time.Time
	last      time.Time
	host      string
	actor     string
	outcomes  map[string]projector.RolloutOutcome // the latest per target
	at        map[string]time.Time                // when the latest was recorded
	attempts  map[string]int
	halted    *projector.RolloutHalted
	interrupt *projector.RolloutInterrupted
	finished  *projector.RolloutFinished
	resumes   []projector.RolloutResumed
	events    int
}

// fold applies one event of the rollout.
func (h *history) fold(e projector.Event) error {
	h.events++
	h.last = e.RecordedAt
	var err error
	switch e.Type {
	case projector.TypeRolloutStarted:
		err = json.Unmarshal(e.Payload, &h.plan)
		h.started, h.host, h.actor = e.RecordedAt, e.Host, e.Actor
	case projector.TypeRolloutTarget:
		var o projector.RolloutOutcome
		if err = json.Unmarshal(e.Payload, &o); err == nil {
			h.outcomes[o.Target] = o
			h.at[o.Target] = e.RecordedAt
			if o.Outcome != projector.OutcomeSkipped {
				h.attempts[o.Target]++
			}
		}
	case projector.TypeRolloutHalted:
		var p projector.RolloutHalted
		err = json.Unmarshal(e.Payload, &p)
		h.halted = &p
	case projector.TypeRolloutInterrupted:
		var p projector.RolloutInterrupted
		err = json.Unmarshal(e.Payload, &p)
		h.interrupt = &p
	case projector.TypeRolloutResumed:
		var p projector.RolloutResumed
		err = json.Unmarshal(e.Payload, &p)
		h.resumes = append(h.resumes, p)
		h.halted, h.interrupt, h.finished = nil, nil, nil
	case projector.TypeRolloutFinished:
		var p projector.RolloutFinished
		err = json.Unmarshal(e.Payload, &p)
		h.finished = &p
	}
	if err != nil {
		return fmt.Errorf("control ledger seq %d (%s): %w", e.Seq, e.Type, err)
	}
	return nil
}

func newHistory() *history {
	return &history{outcomes: map[string]projector.RolloutOutcome{}, at: map[string]time.Time{}, attempts: map[string]int{}}
}

// done reports whether a target needs nothing more: at the set, applied or skipped.
func done(o projector.RolloutOutcome, ok bool) bool {
	return ok && (o.Outcome == projector.OutcomeApplied || o.Outcome == projector.OutcomeAtSet || o.Outcome == projector.OutcomeSkipped)
}

// read folds the events of rollout id (its payloads' id, indexed by the
// store's migration_id column).
func (c *Control) read(ctx context.Context, id string) (*history, error) {
	h := newHistory()
	for e, err := range c.store.Events(ctx, ledger.Filter{MigrationID: id, Types: rolloutTypes}) {
		if err != nil {
			if errors.Is(err, ledger.ErrNotInitialized) {
				return nil, &NoRolloutError{ID: id, Schema: c.store.Schema()}
			}
			return nil, err
		}
		if h.events == 0 && e.Type != projector.TypeRolloutStarted {
			return nil, fmt.Errorf("rollout %s: its first event (seq %d) is %s, not %s", id, e.Seq, e.Type, projector.TypeRolloutStarted)
		}
		if err := h.fold(e); err != nil {
			return nil, err
		}
	}
	if h.events == 0 {
		return nil, &NoRolloutError{ID: id, Schema: c.store.Schema()}
	}
	return h, nil
}

// readAll folds every rollout of the control ledger, oldest first.
func (c *Control) readAll(ctx context.Context) ([]string, map[string]*history, error) {
	var order []string
	all := map[string]*history{}
	for e, err := range c.store.Events(ctx, ledger.Filter{Types: rolloutTypes}) {
		if err != nil {
			if errors.Is(err, ledger.ErrNotInitialized) {
				return nil, nil, nil
			}
			return nil, nil, err
		}
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return nil, nil, fmt.Errorf("control ledger seq %d: %w", e.Seq, err)
		}
		h := all[p.ID]
		if h == nil {
			if e.Type != projector.TypeRolloutStarted {
				continue // a rollout whose start is not there: not ours to show
			}
			h = newHistory()
			all[p.ID] = h
			order = append(order, p.ID)
		}
		if err := h.fold(e); err != nil {
			return nil, nil, err
		}
	}
	return order, all, nil
}

// pendingNames lists the plan's targets not done, in plan order.
func (h *history) pendingNames() []string {
	var out []string
	for _, t := range h.plan.Targets {
		o, ok := h.outcomes[t.Name]
		if !done(o, ok) {
			out = append(out, t.Name)
		}
	}
	return out
}

func (h *history) known(name string) bool {
	return slices.ContainsFunc(h.plan.Targets, func(t projector.RolloutTarget) bool { return t.Name == name })
}

var latestFilter = ledger.Filter{Types: []string{projector.TypeRolloutStarted}, Newest: true, Limit: 1}

func ignoreMissing(err error) error {
	if errors.Is(err, ledger.ErrNotInitialized) {
		return nil
	}
	return err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
