package natsbus

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

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

// body is the JSON of one event, as ledger.EncodeEvent writes it (the shape
// of `ledger history --json`). Decoding keeps payload's bytes as they are.
type body struct {
	Seq            int64                `json:"seq"`
	ID             string               `json:"id"`
	Type           string               `json:"type"`
	PayloadVersion int                  `json:"payload_version"`
	Payload        json.RawMessage      `json:"payload"`
	RecordedAt     time.Time            `json:"recorded_at"`
	Actor          string               `json:"actor"`
	Host           string               `json:"host"`
	AppVersion     string               `json:"app_version"`
	Hash           string               `json:"hash"`
	PrevHash       string               `json:"prev_hash"`
	State          *projector.Committed `json:"state,omitempty"`
}

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

// DecodeEvent reads a message body back into the event it carries.
func DecodeEvent(data []byte) (ledger.Event, error) {
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		return ledger.Event{}, &MalformedMessageError{Reason: "body: " + err.Error()}
	}
	ev := ledger.Event{
		Seq: b.Seq, ID: b.ID, Type: b.Type, PayloadVersion: b.PayloadVersion,
		Payload: b.Payload, RecordedAt: b.RecordedAt.UTC(), Actor: b.Actor,
		Host: b.Host, AppVersion: b.AppVersion, State: b.State,
	}
	var err error
	if ev.Hash, err = hex.DecodeString(b.Hash); err != nil || len(ev.Hash) != 32 {
		return ledger.Event{}, &MalformedMessageError{Reason: fmt.Sprintf("hash %q is not 32 bytes of hex", b.Hash)}
	}
	if ev.PrevHash, err = hex.DecodeString(b.PrevHash); err != nil || len(ev.PrevHash) != 32 {
		return ledger.Event{}, &MalformedMessageError{Reason: fmt.Sprintf("prev_hash %q is not 32 bytes of hex", b.PrevHash)}
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
