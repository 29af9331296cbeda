package projector

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// eventJSON is the JSON shape of an Event, for reading it back: the keys
// EncodeEvent writes. Hashes are hex; the payload's bytes are kept as they
// are.
type eventJSON struct {
	Seq            int64           `json:"seq"`
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	PayloadVersion int             `json:"payload_version"`
	Payload        json.RawMessage `json:"payload"`
	RecordedAt     time.Time       `json:"recorded_at"`
	Actor          string          `json:"actor"`
	Host           string          `json:"host"`
	AppVersion     string          `json:"app_version"`
	Hash           string          `json:"hash"`
	PrevHash       string          `json:"prev_hash"`
	State          *Committed      `json:"state,omitempty"`
}

// EncodeEvent is the JSON of ev: a line of `ledger history --json`, and the
// body of the message that carries ev on NATS. The payload is written byte
// for byte as stored (encoding/json would compact it, and the hash covers
// the stored text), so the event's hash can be recomputed from the JSON
// alone; it must be valid JSON, as every stored payload is. Hashes are hex
// (empty when the event has none yet); state is present from ledger format 2 on.
func EncodeEvent(ev Event) ([]byte, error) {
	if !json.Valid(ev.Payload) {
		return nil, fmt.Errorf("encode event %d: payload is not valid JSON", ev.Seq)
	}
	str := func(b *bytes.Buffer, key, v string) {
		b.WriteString(`,"` + key + `":`)
		q, _ := json.Marshal(v) // a string always marshals
		b.Write(q)
	}
	var b bytes.Buffer
	b.Grow(256 + len(ev.Payload))
	b.WriteString(`{"seq":`)
	b.WriteString(strconv.FormatInt(ev.Seq, 10))
	str(&b, "id", ev.ID)
	str(&b, "type", ev.Type)
	b.WriteString(`,"payload_version":`)
	b.WriteString(strconv.Itoa(ev.PayloadVersion))
	b.WriteString(`,"payload":`)
	b.Write(ev.Payload)
	str(&b, "recorded_at", ev.RecordedAt.UTC().Format(time.RFC3339Nano))
	str(&b, "actor", ev.Actor)
	str(&b, "host", ev.Host)
	str(&b, "app_version", ev.AppVersion)
	str(&b, "hash", hex.EncodeToString(ev.Hash))
	str(&b, "prev_hash", hex.EncodeToString(ev.PrevHash))
	if ev.State != nil {
		st, err := json.Marshal(ev.State)
		if err != nil {
			return nil, fmt.Errorf("encode event %d: state: %w", ev.Seq, err)
		}
		b.WriteString(`,"state":`)
		b.Write(st)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DecodeEvent reads the JSON EncodeEvent writes back into the event. It
// checks only the shape (hex hashes); what a complete stored event must
// hold is the reader's to check.
func DecodeEvent(data []byte) (Event, error) {
	var j eventJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	ev := Event{
		Seq: j.Seq, ID: j.ID, Type: j.Type, PayloadVersion: j.PayloadVersion,
		Payload: j.Payload, RecordedAt: j.RecordedAt.UTC(), Actor: j.Actor,
		Host: j.Host, AppVersion: j.AppVersion, State: j.State,
	}
	var err error
	if ev.Hash, err = hex.DecodeString(j.Hash); err != nil {
		return Event{}, fmt.Errorf("%w: hash %q is not hex", ErrInvalidEvent, j.Hash)
	}
	if ev.PrevHash, err = hex.DecodeString(j.PrevHash); err != nil {
		return Event{}, fmt.Errorf("%w: prev_hash %q is not hex", ErrInvalidEvent, j.PrevHash)
	}
	if len(ev.Hash) == 0 {
		ev.Hash = nil
	}
	if len(ev.PrevHash) == 0 {
		ev.PrevHash = nil
	}
	return ev, nil
}

// MarshalJSON writes EncodeEvent's shape (encoding/json then compacts the
// payload: use EncodeEvent where its bytes matter); an event with no
// payload yet has "payload": null.
func (e Event) MarshalJSON() ([]byte, error) {
	if len(e.Payload) == 0 {
		e.Payload = json.RawMessage("null")
	}
	return EncodeEvent(e)
}

// UnmarshalJSON reads EncodeEvent's shape.
func (e *Event) UnmarshalJSON(data []byte) error {
	ev, err := DecodeEvent(data)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}
