package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// EncodeEvent is the JSON of ev: a line of `ledger history --json`, and the
// body of the message that carries ev on NATS (natsbus). The payload is
// written byte for byte as stored (encoding/json would compact it, and the
// hash covers the stored text); it must be valid JSON, as every stored
// payload is.
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
