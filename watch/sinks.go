package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sinks are where alerts go: a JetStream subject (deduplicated by
// Nats-Msg-Id), a writer (a line or a JSON object each) and a webhook.
type sinks struct {
	js      jetstream.JetStream
	log     *slog.Logger
	subject func(Alert) string
	line    func(Alert) string // the alert as a line of out

	outMu  sync.Mutex // guards out and alerts
	out    io.Writer
	json   bool
	alerts int64

	webhook      string
	hookAttempts int
	hookWait     time.Duration
	client       *http.Client
	hooks        chan Alert
}

// setWebhook sets the webhook the alerts are POSTed to (WithWebhook,
// FleetWebhook), with its retries.
func (w *sinks) setWebhook(url string, attempts int, first time.Duration) error {
	if attempts < 1 || first <= 0 {
		return fmt.Errorf("webhook: want at least one attempt and a positive wait, got %d and %s", attempts, first)
	}
	w.webhook, w.hookAttempts, w.hookWait = url, attempts, first
	return nil
}

func newSinks(js jetstream.JetStream) sinks {
	return sinks{js: js, log: slog.New(slog.DiscardHandler), out: io.Discard, line: Alert.Line, client: &http.Client{Timeout: 10 * time.Second}}
}

// startHooks delivers to the webhook, if any, until ctx ends.
func (w *sinks) startHooks(ctx context.Context, wg *sync.WaitGroup) {
	if w.webhook == "" {
		return
	}
	w.hooks = make(chan Alert, 1024)
	wg.Add(1)
	go func() { defer wg.Done(); w.deliverHooks(ctx) }()
}

// Alerts is how many alerts were emitted.
func (w *sinks) Alerts() int64 {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	return w.alerts
}

// emit publishes each alert (once across watchers, by its Nats-Msg-Id),
// prints it and hands it to the webhook. The alerts of one call are
// published together (one round trip for all their acknowledgements);
// one that fails is retried on its own.
func (w *sinks) emit(ctx context.Context, alerts []Alert) {
	type sent struct {
		a    Alert
		data []byte
		paf  jetstream.PubAckFuture
	}
	var batch []sent
	for _, a := range alerts {
		data, err := json.Marshal(a)
		if err != nil {
			w.log.Error("watch: encode alert", "err", err)
			continue
		}
		paf, err := w.js.PublishAsync(w.subject(a), data, jetstream.WithMsgID(a.MsgID()))
		if err != nil {
			paf = nil
		}
		batch = append(batch, sent{a, data, paf})
	}
	for _, s := range batch {
		ok := false
		if s.paf != nil {
			select {
			case <-s.paf.Ok():
				ok = true
			case <-s.paf.Err():
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
		}
		if !ok {
			w.publish(ctx, s.a, s.data)
		}
		a := s.a
		w.outMu.Lock()
		w.alerts++
		if w.json {
			fmt.Fprintf(w.out, "%s\n", s.data)
		} else {
			fmt.Fprintln(w.out, w.line(a))
		}
		w.outMu.Unlock()
		if w.hooks != nil {
			select {
			case w.hooks <- a:
			default:
				w.log.Error("watch: webhook queue full; alert not delivered to the webhook", "kind", a.Kind, "seq", a.Seq)
			}
		}
	}
}

// publish retries until the alert is stored or ctx ends.
func (w *sinks) publish(ctx context.Context, a Alert, data []byte) {
	wait := 100 * time.Millisecond
	for {
		_, err := w.js.Publish(ctx, w.subject(a), data, jetstream.WithMsgID(a.MsgID()))
		if err == nil || ctx.Err() != nil {
			return
		}
		w.log.Warn("watch: publish alert; retrying", "kind", a.Kind, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (w *sinks) deliverHooks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-w.hooks:
			if err := w.post(ctx, a); err != nil && ctx.Err() == nil {
				w.log.Error("watch: webhook", "url", w.webhook, "kind", a.Kind, "err", err)
			}
		}
	}
}

// post sends one alert to the webhook, retrying what may succeed later.
func (w *sinks) post(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	wait := w.hookWait
	var last error
	for attempt := 1; attempt <= w.hookAttempts; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.webhook, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", a.MsgID())
		resp, err := w.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode < 300:
				return nil
			case resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500:
				return fmt.Errorf("the webhook answered %s (not retried)", resp.Status)
			}
			err = fmt.Errorf("the webhook answered %s", resp.Status)
		}
		last = err
		if attempt == w.hookAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait + rand.N(wait/2+1)):
		}
		wait *= 2
	}
	return fmt.Errorf("gave up after %d attempts: %w", w.hookAttempts, last)
}
