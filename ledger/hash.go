package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// EventHash computes an event's hash exactly as the SQL function
// <schema>.event_hash does: sha256 over the previous hash and, for each
// column in a fixed order, its length in bytes, ':', its bytes and '\n'.
// Time enters as UTC epoch microseconds and the payload as jsonb's canonical
// text (payloadText must be payload::text as PostgreSQL renders it), so the
// result does not depend on any session setting. An event that commits its
// state (e.State, ledger format 2 on) also hashes the format, the digest in
// lower-case hex, the in-doubt count and the schema version, in that order.
func EventHash(prev []byte, e Event, payloadText string) []byte {
	h := sha256.New()
	h.Write(prev)
	field := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	field(strconv.FormatInt(e.Seq, 10))
	field(e.ID)
	field(e.Type)
	field(strconv.Itoa(e.PayloadVersion))
	field(strconv.FormatInt(e.RecordedAt.UnixMicro(), 10))
	field(e.Actor)
	field(e.Host)
	field(e.AppVersion)
	field(payloadText)
	if c := e.State; c != nil {
		// Format 2: the state the event leaves behind.
		field(strconv.Itoa(c.Format))
		field(hex.EncodeToString(c.Digest[:]))
		field(strconv.Itoa(c.InDoubt))
		field(c.SchemaVersion)
	}
	return h.Sum(nil)
}
