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
	b := make([]byte, 0, 256+len(payloadText))
	b = append(b, prev...)
	b = appendIntField(b, e.Seq)
	b = appendField(b, e.ID)
	b = appendField(b, e.Type)
	b = appendIntField(b, int64(e.PayloadVersion))
	b = appendIntField(b, e.RecordedAt.UnixMicro())
	b = appendField(b, e.Actor)
	b = appendField(b, e.Host)
	b = appendField(b, e.AppVersion)
	b = appendField(b, payloadText)
	if c := e.State; c != nil {
		// Format 2: the state the event leaves behind.
		b = appendStateFields(b, c.Format, c.Digest[:], c.InDoubt, c.SchemaVersion)
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// The fields of the hashed text, each appended to b as EventHash hashes
// it: its length in bytes, ':', its bytes and '\n'. Verify builds the
// same text from a row's raw values with them.

func appendField[S string | []byte](b []byte, s S) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, '\n')
}

func appendIntField(b []byte, n int64) []byte {
	var t [20]byte
	return appendField(b, strconv.AppendInt(t[:0], n, 10))
}

// appendUUIDField appends a uuid's canonical text form.
func appendUUIDField(b []byte, id *[16]byte) []byte {
	t := uuidText(id)
	return appendField(b, t[:])
}

// uuidText is a uuid's canonical text form (lower-case hex, 8-4-4-4-12),
// as uuid.UUID.String writes it.
func uuidText(id *[16]byte) (t [36]byte) {
	hex.Encode(t[0:8], id[0:4])
	t[8] = '-'
	hex.Encode(t[9:13], id[4:6])
	t[13] = '-'
	hex.Encode(t[14:18], id[6:8])
	t[18] = '-'
	hex.Encode(t[19:23], id[8:10])
	t[23] = '-'
	hex.Encode(t[24:], id[10:])
	return t
}

// appendStateFields appends the committed state's fields (ledger format 2 on).
func appendStateFields[S string | []byte](b []byte, format int, digest []byte, inDoubt int, schemaVersion S) []byte {
	b = appendIntField(b, int64(format))
	var t [64]byte
	b = appendField(b, t[:hex.Encode(t[:], digest)])
	b = appendIntField(b, int64(inDoubt))
	return appendField(b, schemaVersion)
}
