package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/schema-ledger/ledger/projector"
)

// rawEvents decodes the rows of the events query (eventCols, every column
// in binary) from their raw bytes, for Verify: no scan plans, a handful of
// allocations per row, and the hashed text built in one reused buffer.
// It takes only rows it can decode exactly as scanEvent does — every
// column of the type the ledger created, no NULL but a wholly NULL state,
// a finite time — and leaves any other row to scanEvent, which says what
// is wrong with it as it always has.
type rawEvents struct {
	rows    pgx.Rows
	ok      bool   // the columns are eventCols' types, in binary
	noID    bool   // no one reads Event.ID (only the hash needs the uuid)
	buf     []byte // the hashed text
	strs    map[string]string
	payload []byte                // payloads, copied into chunks of it
	states  []projector.Committed // committed states, allocated a chunk at a time
}

// The columns of eventCols and their types.
var eventColTypes = [...]uint32{
	pgtype.Int8OID, pgtype.UUIDOID, pgtype.TextOID, pgtype.Int4OID, pgtype.TextOID, pgtype.TimestamptzOID,
	pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.ByteaOID, pgtype.ByteaOID,
	pgtype.Int4OID, pgtype.ByteaOID, pgtype.Int4OID, pgtype.TextOID,
}

// newRawEvents reads rows; withID: the events' ID is read (the fold reads
// none, a visitor may).
func newRawEvents(rows pgx.Rows, withID bool) *rawEvents {
	r := &rawEvents{rows: rows, strs: map[string]string{}, noID: !withID}
	fds := rows.FieldDescriptions()
	r.ok = len(fds) == len(eventColTypes)
	for i := 0; r.ok && i < len(fds); i++ {
		r.ok = fds[i].DataTypeOID == eventColTypes[i] && fds[i].Format == pgx.BinaryFormatCode
	}
	return r
}

// microsecFromUnixEpochToY2K: binary timestamptz counts microseconds from 2000-01-01 UTC.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

// event decodes the current row and sums its hashed text after prev. Its
// PrevHash and Hash point into the row's buffers (valid until the next
// row). ok is false when the row is one for scanEvent.
func (r *rawEvents) event(prev []byte) (e Event, sum [32]byte, ok bool) {
	if !r.ok {
		return e, sum, false
	}
	v := r.rows.RawValues()
	if len(v) != len(eventColTypes) {
		return e, sum, false
	}
	for i := 0; i <= 10; i++ {
		if v[i] == nil {
			return e, sum, false
		}
	}
	if len(v[0]) != 8 || len(v[1]) != 16 || len(v[3]) != 4 || len(v[5]) != 8 {
		return e, sum, false
	}
	micro := int64(binary.BigEndian.Uint64(v[5]))
	if micro == math.MaxInt64 || micro == math.MinInt64 || micro > math.MaxInt64-microsecFromUnixEpochToY2K {
		return e, sum, false // infinity: scanEvent refuses it
	}
	micro += microsecFromUnixEpochToY2K
	// The committed state: all four NULL (none) or none NULL.
	nulls := 0
	for i := 11; i <= 14; i++ {
		if v[i] == nil {
			nulls++
		}
	}
	switch {
	case nulls == 4:
	case nulls == 0 && len(v[11]) == 4 && len(v[12]) == len(projector.Digest{}) && len(v[13]) == 4:
		if len(r.states) == 0 {
			r.states = make([]projector.Committed, 256)
		}
		c := &r.states[0]
		r.states = r.states[1:]
		c.Format = int(int32(binary.BigEndian.Uint32(v[11])))
		c.InDoubt = int(int32(binary.BigEndian.Uint32(v[13])))
		c.SchemaVersion = r.str(v[14])
		copy(c.Digest[:], v[12])
		e.State = c
	default:
		return e, sum, false
	}
	id := (*[16]byte)(v[1])
	e.Seq = int64(binary.BigEndian.Uint64(v[0]))
	if !r.noID {
		e.ID = uuidString(id)
	}
	e.Type = r.str(v[2])
	e.PayloadVersion = int(int32(binary.BigEndian.Uint32(v[3])))
	e.Payload = r.copyPayload(v[4])
	e.RecordedAt = time.UnixMicro(micro).UTC()
	e.Actor, e.Host, e.AppVersion = r.str(v[6]), r.str(v[7]), r.str(v[8])
	e.PrevHash, e.Hash = v[9], v[10]

	b := append(r.buf[:0], prev...)
	b = appendIntField(b, e.Seq)
	b = appendUUIDField(b, id)
	b = appendField(b, v[2])
	b = appendIntField(b, int64(e.PayloadVersion))
	b = appendIntField(b, micro)
	b = appendField(b, v[6])
	b = appendField(b, v[7])
	b = appendField(b, v[8])
	b = appendField(b, v[4])
	if c := e.State; c != nil {
		b = appendStateFields(b, c.Format, c.Digest[:], c.InDoubt, v[14])
	}
	r.buf = b
	return e, sha256.Sum256(b), true
}

// str is s as a string, one string per distinct value among the first
// few thousand: a ledger repeats its types, actors, hosts and versions.
func (r *rawEvents) str(s []byte) string {
	if v, ok := r.strs[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(r.strs) < 4096 && len(v) <= 256 {
		r.strs[v] = v
	}
	return v
}

// copyPayload copies a payload out of the row's buffer into a chunk
// shared by the payloads after it: one allocation per 64 KiB of payloads,
// not one per event. A payload never changes once copied (the fold only
// reads it), so the chunks are safe to share.
func (r *rawEvents) copyPayload(p []byte) []byte {
	if len(p) > 4096 {
		return append([]byte(nil), p...)
	}
	if cap(r.payload)-len(r.payload) < len(p) {
		r.payload = make([]byte, 0, 64<<10)
	}
	n := len(r.payload)
	r.payload = append(r.payload, p...)
	return r.payload[n:len(r.payload):len(r.payload)]
}

// uuidString is a uuid's canonical text form, as uuid.UUID.String writes it.
func uuidString(id *[16]byte) string {
	t := uuidText(id)
	return string(t[:])
}
