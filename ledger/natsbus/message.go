package natsbus

import (
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// Message headers. Nats-Msg-Id (jetstream.MsgIDHeader) carries the event id.
const (
	HeaderSeq      = "Ledger-Seq"       // the event's seq, decimal
	HeaderHash     = "Ledger-Hash"      // the event's hash, hex
	HeaderPrevHash = "Ledger-Prev-Hash" // the previous event's hash, hex
	HeaderType     = "Ledger-Type"      // the event type, e.g. migration.applied
)

// Encode is the message that carries ev on its subject under n: the body
// (ledger.EncodeEvent) and the headers, Nats-Msg-Id = the event id included.
func Encode(n Names, ev ledger.Event) (*nats.Msg, error) {
	data, err := ledger.EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(n.Subject(ev.Type))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, ev.ID)
	m.Header.Set(HeaderSeq, strconv.FormatInt(ev.Seq, 10))
	m.Header.Set(HeaderType, ev.Type)
	m.Header.Set(HeaderHash, hex.EncodeToString(ev.Hash))
	m.Header.Set(HeaderPrevHash, hex.EncodeToString(ev.PrevHash))
	return m, nil
}

// DecodeEvent reads a message body (projector.EncodeEvent's JSON) back
// into the event it carries, and checks it is a whole stored event.
func DecodeEvent(data []byte) (ledger.Event, error) {
	ev, err := projector.DecodeEvent(data)
	if err != nil {
		return ledger.Event{}, &MalformedMessageError{Reason: "body: " + err.Error()}
	}
	if len(ev.Hash) != 32 {
		return ledger.Event{}, &MalformedMessageError{Reason: fmt.Sprintf("hash %x is not 32 bytes", ev.Hash)}
	}
	if len(ev.PrevHash) != 32 {
		return ledger.Event{}, &MalformedMessageError{Reason: fmt.Sprintf("prev_hash %x is not 32 bytes", ev.PrevHash)}
	}
	switch {
	case ev.Seq < 1:
		return ledger.Event{}, &MalformedMessageError{Reason: fmt.Sprintf("seq %d", ev.Seq)}
	case ev.ID == "" || ev.Type == "":
		return ledger.Event{}, &MalformedMessageError{Reason: "id or type missing"}
	case len(ev.Payload) == 0:
		return ledger.Event{}, &MalformedMessageError{Reason: "payload missing"}
	}
	return ev, nil
}

// DecodeMsg reads the event a message carries and checks that its headers
// agree with the body. streamSeq, when not zero, is the message's stream
// sequence, which must equal the event's seq.
func DecodeMsg(subject string, h nats.Header, data []byte, streamSeq uint64) (ledger.Event, error) {
	bad := func(format string, args ...any) (ledger.Event, error) {
		return ledger.Event{}, &MalformedMessageError{Subject: subject, Seq: streamSeq, Reason: fmt.Sprintf(format, args...)}
	}
	ev, err := DecodeEvent(data)
	if err != nil {
		return bad("%s", err.(*MalformedMessageError).Reason)
	}
	if streamSeq != 0 && uint64(ev.Seq) != streamSeq {
		return bad("it carries ledger seq %d at stream seq %d", ev.Seq, streamSeq)
	}
	checks := []struct{ header, want string }{
		{HeaderSeq, strconv.FormatInt(ev.Seq, 10)},
		{HeaderType, ev.Type},
		{HeaderHash, hex.EncodeToString(ev.Hash)},
		{HeaderPrevHash, hex.EncodeToString(ev.PrevHash)},
		{jetstream.MsgIDHeader, ev.ID},
	}
	for _, c := range checks {
		if got := h.Get(c.header); got != c.want {
			return bad("header %s is %q, the body says %q", c.header, got, c.want)
		}
	}
	return ev, nil
}

// Decode reads the event a consumed message carries (e.g. from an ordered
// consumer), checking headers against the body and that the stream
// sequence is the event's seq.
func Decode(m jetstream.Msg) (ledger.Event, error) {
	meta, err := m.Metadata()
	if err != nil {
		return ledger.Event{}, &MalformedMessageError{Subject: m.Subject(), Reason: "no JetStream metadata: " + err.Error()}
	}
	return DecodeMsg(m.Subject(), m.Headers(), m.Data(), meta.Sequence.Stream)
}

// DecodeRaw reads the event of a message fetched by stream sequence
// (jetstream.Stream.GetMsg), with the same checks as Decode.
func DecodeRaw(m *jetstream.RawStreamMsg) (ledger.Event, error) {
	return DecodeMsg(m.Subject, m.Header, m.Data, m.Sequence)
}
