package ledger

import "github.com/schema-ledger/ledger/projector"

// EncodeEvent is the JSON of ev (projector.EncodeEvent, where the shape is
// written): a line of `ledger history --json`, and the body of the message
// that carries ev on NATS.
func EncodeEvent(ev Event) ([]byte, error) { return projector.EncodeEvent(ev) }
