package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Anchor is a point of the chain kept outside the database: an event's seq
// and hash. Since every hash covers its predecessor's, a ledger whose chain
// verifies and whose event at Seq still has Hash holds exactly the history
// the anchor was taken from, up to Seq — a rewritten history (re-chained
// with event_hash by a superuser) or a cut tail cannot match it.
type Anchor struct {
	Seq  int64
	Hash []byte
}

// String is the anchor as SEQ:HASH (hash in lower-case hex), the form
// ParseAnchor reads and `ledger checkpoint` prints.
func (a Anchor) String() string {
	return strconv.FormatInt(a.Seq, 10) + ":" + hex.EncodeToString(a.Hash)
}

// ParseAnchor reads SEQ:HASH, e.g. 42:9f86d081884c7d65…, a full 64-digit
// sha256 in hex.
func ParseAnchor(s string) (Anchor, error) {
	seqText, hashText, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Anchor{}, fmt.Errorf("checkpoint %q: want SEQ:HASH, the newest event's seq and hash as a checkpoint is written (e.g. 42:9f86d081884c…, the hash in 64 hex digits)", s)
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 1 {
		return Anchor{}, fmt.Errorf("checkpoint %q: the seq %q is not a positive number", s, seqText)
	}
	h, err := hex.DecodeString(hashText)
	if err != nil || len(h) != 32 {
		return Anchor{}, fmt.Errorf("checkpoint %q: the hash is not 64 hex digits", s)
	}
	return Anchor{Seq: seq, Hash: h}, nil
}

// Checkpoint returns the anchor of the newest event, from the checked head
// (Head): what to keep elsewhere to prove later that this history is
// still the one in the database.
func (s *Store) Checkpoint(ctx context.Context) (Anchor, Head, error) {
	h, err := s.Head(ctx)
	if err != nil {
		return Anchor{}, h, err
	}
	return Anchor{Seq: h.Seq, Hash: h.Hash}, h, nil
}

// anchorCheck compares the events walked by Verify with expected anchors.
type anchorCheck struct {
	want  map[int64][]byte
	found map[int64]bool
}

func newAnchorCheck(anchors []Anchor) *anchorCheck {
	c := &anchorCheck{want: map[int64][]byte{}, found: map[int64]bool{}}
	for _, a := range anchors {
		c.want[a.Seq] = a.Hash
	}
	return c
}

// see checks one walked event; it returns a problem, or "".
func (c *anchorCheck) see(seq int64, hash []byte) string {
	want, ok := c.want[seq]
	if !ok {
		return ""
	}
	c.found[seq] = true
	if !bytes.Equal(want, hash) {
		return fmt.Sprintf("checkpoint %d:%x: the event at seq %d has hash %x: the history up to it is not the one the checkpoint was taken from (rewritten or re-chained)", seq, want, seq, hash)
	}
	return ""
}

// missing lists the anchors beyond the walked chain.
func (c *anchorCheck) missing(walked int64) []string {
	var out []string
	for seq, h := range c.want {
		if !c.found[seq] {
			out = append(out, fmt.Sprintf("checkpoint %d:%x: the ledger ends at seq %d, before it: events after seq %d were deleted", seq, h, walked, walked))
		}
	}
	return out
}
