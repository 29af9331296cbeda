package natsbus

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// JetStream API error codes the relay acts on (nats-server's
// JSStreamWrongLastSequenceErr, its replicated-stream twin, and
// JSStreamSubjectOverlapErr).
const (
	codeWrongLastSeq         = jetstream.JSErrCodeStreamWrongLastSequence         // 10071
	codeWrongLastSeqConstant = jetstream.JSErrCodeStreamWrongLastSequenceConstant // 10164
	codeSubjectOverlap       = jetstream.ErrorCode(10065)
)

// isWrongLastSeq reports whether err is JetStream's "wrong last sequence":
// the stream's last sequence was not the one the publish expected.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == codeWrongLastSeq || apiErr.ErrorCode == codeWrongLastSeqConstant)
}

// StreamOption changes the configuration of a ledger's stream.
type StreamOption func(*jetstream.StreamConfig)

// WithStreamReplicas keeps the stream on n servers of a JetStream cluster
// (default 1). EnsureStream raises the replicas of an existing stream
// that has fewer.
func WithStreamReplicas(n int) StreamOption {
	return func(c *jetstream.StreamConfig) { c.Replicas = n }
}

// StreamConfig is the configuration EnsureStream creates the stream with:
// file storage, the ledger's events subject, no limits (the stream is a
// copy of the whole chain), and no deleting or purging of messages; one
// replica unless an option says otherwise.
func StreamConfig(n Names, opts ...StreamOption) jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name:        n.Stream,
		Description: "ledger events (stream sequence = ledger seq), published by `ledger relay`",
		Subjects:    []string{n.EventsFilter()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		Replicas:    1,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// EnsureStream returns the ledger's stream, creating it if missing. A
// stream of that name whose subjects do not carry the ledger's events is a
// *StreamConfigError, as is a server that refuses to create it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, n Names, opts ...StreamOption) (jetstream.Stream, error) {
	want := StreamConfig(n, opts...)
	s, err := js.Stream(ctx, n.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another relay created it first
			s, err = js.Stream(ctx, n.Stream)
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == codeSubjectOverlap {
			return nil, &StreamConfigError{Stream: n.Stream, Want: n.EventsFilter(), Reason: "another stream already holds these subjects (" + apiErr.Description + "); find it with `nats stream ls` and use its name as the stream, or choose another subject prefix"}
		}
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, &StreamConfigError{Stream: n.Stream, Want: n.EventsFilter(), Reason: "JetStream is not enabled on this server or account; start nats-server with -js"}
		}
		if err != nil && want.Replicas > 1 && isReplicasErr(err) {
			return nil, &StreamConfigError{Stream: n.Stream, Want: n.EventsFilter(), Reason: fmt.Sprintf("the server cannot keep %d replicas (%v): a JetStream cluster of at least %d servers is needed, or ask for fewer replicas", want.Replicas, err, want.Replicas)}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", n.Stream, err)
	}
	cfg := s.CachedInfo().Config
	if !slices.Contains(cfg.Subjects, n.EventsFilter()) {
		return nil, &StreamConfigError{Stream: n.Stream, Subjects: cfg.Subjects, Want: n.EventsFilter()}
	}
	if cfg.Replicas < want.Replicas {
		cfg.Replicas = want.Replicas
		if s, err = js.UpdateStream(ctx, cfg); err != nil {
			return nil, &StreamConfigError{Stream: n.Stream, Want: n.EventsFilter(), Reason: fmt.Sprintf("raise its replicas to %d: %v", want.Replicas, err)}
		}
	}
	return s, nil
}

// isReplicasErr: the server cannot place that many replicas.
func isReplicasErr(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10074, 10005, 10023: // replicas > 1 not supported in non-clustered mode; insufficient resources; no suitable peers
			return true
		}
	}
	return strings.Contains(err.Error(), "replicas") || strings.Contains(err.Error(), "insufficient resources")
}

// CheckLast reads the stream's last sequence and checks that the message
// there is the ledger's event at that seq (same id and hash). It returns
// the last sequence, 0 for an empty stream; a stream that does not match
// is a *StreamMismatchError.
func CheckLast(ctx context.Context, s jetstream.Stream, store *ledger.Store) (int64, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", s.CachedInfo().Config.Name, err)
	}
	name, last := info.Config.Name, int64(info.State.LastSeq)
	if last == 0 {
		return 0, nil
	}
	mismatch := func(format string, args ...any) (int64, error) {
		return 0, &StreamMismatchError{Stream: name, Seq: last, Reason: fmt.Sprintf(format, args...)}
	}
	head, err := store.Head(ctx)
	if err != nil {
		return 0, err
	}
	if last > head.Seq {
		return mismatch("the stream holds %d messages, the ledger only %d events", last, head.Seq)
	}
	raw, err := s.GetMsg(ctx, uint64(last))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return mismatch("its last message was deleted, so it cannot be compared")
	}
	if err != nil {
		return 0, fmt.Errorf("read message %d of stream %s: %w", last, name, err)
	}
	got, err := DecodeRaw(raw)
	if err != nil {
		return mismatch("%v", err)
	}
	want, err := store.Event(ctx, last)
	if err != nil {
		return 0, err
	}
	if got.ID != want.ID || !bytes.Equal(got.Hash, want.Hash) {
		return mismatch("its message is event %s with hash %s, the ledger's is event %s with hash %s", got.ID, short(got.Hash), want.ID, short(want.Hash))
	}
	return last, nil
}

func short(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
