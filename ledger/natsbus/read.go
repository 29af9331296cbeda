package natsbus

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// ReadEvents yields the events the ledger's stream holds after seq after,
// in order, up to the stream's last sequence when it is called — what
// `verify --nats` compares with the chain. Each message is checked as
// Decode checks it (headers agree with the body, stream sequence = event
// seq). A stream that does not exist yields an error wrapping
// jetstream.ErrStreamNotFound. It reads with an ordered consumer, so no
// state is left on the server.
func ReadEvents(ctx context.Context, js jetstream.JetStream, n Names, after int64) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		s, err := js.Stream(ctx, n.Stream)
		if err != nil {
			yield(ledger.Event{}, fmt.Errorf("stream %s: %w", n.Stream, err))
			return
		}
		for ev, err := range ReadRange(ctx, js, n, after, int64(s.CachedInfo().State.LastSeq)) {
			if !yield(ev, err) {
				return
			}
		}
	}
}

// ReadRange yields the events of the ledger's stream after seq after up to
// seq last (the caller knows the stream's last sequence, e.g. from a
// listing of the streams: one request fewer than ReadEvents), in order,
// checked as Decode checks them. It fetches in batches with an ordered
// consumer, so no state is left on the server.
func ReadRange(ctx context.Context, js jetstream.JetStream, n Names, after, last int64) iter.Seq2[ledger.Event, error] {
	return func(yield func(ledger.Event, error) bool) {
		if last <= after {
			return
		}
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{n.EventsFilter()}}
		if after > 0 {
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = uint64(after + 1)
		}
		cons, err := js.OrderedConsumer(ctx, n.Stream, cfg)
		if err != nil {
			yield(ledger.Event{}, fmt.Errorf("read stream %s: %w", n.Stream, err))
			return
		}
		want := after + 1
		for want <= last {
			batch, err := cons.Fetch(int(min(last-want+1, 1000)), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				yield(ledger.Event{}, fmt.Errorf("read stream %s at seq %d: %w", n.Stream, want, err))
				return
			}
			got := 0
			for m := range batch.Messages() {
				got++
				ev, err := Decode(m)
				if err == nil && ev.Seq != want {
					err = &MalformedMessageError{Subject: m.Subject(), Seq: uint64(ev.Seq), Reason: fmt.Sprintf("stream seq %d is missing (deleted?)", want)}
				}
				if !yield(ev, err) || err != nil {
					return
				}
				want++
			}
			if err := batch.Error(); err != nil && got == 0 {
				yield(ledger.Event{}, fmt.Errorf("read stream %s at seq %d: %w", n.Stream, want, err))
				return
			}
			if got == 0 {
				yield(ledger.Event{}, fmt.Errorf("read stream %s at seq %d: no message within 5s", n.Stream, want))
				return
			}
		}
	}
}
