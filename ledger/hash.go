package ledger

import (
	"crypto/sha256"
	"strconv"
)

// EventHash computes an event's hash exactly as the SQL function
// <schema>.event_hash does: sha256 over the previous hash and, for each
// column in a fixed order, its length in bytes, ':', its bytes and '\n'.
// Time enters as UTC epoch microseconds and the payload as jsonb's canonical
// text (payloadText must be payload::text as PostgreSQL renders it), so the
// result does not depend on any session setting.
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
	return h.Sum(nil)
}
