package projector

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
)

// Digest identifies a set of applied migrations (ids with their checksums).
//
// It is the sum, modulo 2^256, of sha256(id ‖ 0x00 ‖ checksum) over the set:
// two sets have the same digest exactly when they hold the same ids with the
// same checksums (barring sha256 collisions), whatever order they were
// applied in. Unlike a hash over the sorted list, it is updated in O(1) when a
// migration is applied or reverted, so appending the 1000th migration costs no
// more than the 10th. The empty set's digest is all zeros.
type Digest [32]byte

func entryHash(id, checksum string) [32]byte {
	var buf [256]byte // on the stack: the fold adds and removes one per event
	b := append(buf[:0], id...)
	b = append(b, 0)
	b = append(b, checksum...)
	return sha256.Sum256(b)
}

// Add returns d with the migration (id, checksum) added to the set.
func (d Digest) Add(id, checksum string) Digest {
	e := entryHash(id, checksum)
	var carry uint64
	for i := 24; i >= 0; i -= 8 {
		var s uint64
		s, carry = bits.Add64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(e[i:]), carry)
		binary.BigEndian.PutUint64(d[i:], s)
	}
	return d
}

// Sub returns d with the migration (id, checksum) removed from the set.
func (d Digest) Sub(id, checksum string) Digest {
	e := entryHash(id, checksum)
	var borrow uint64
	for i := 24; i >= 0; i -= 8 {
		var s uint64
		s, borrow = bits.Sub64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(e[i:]), borrow)
		binary.BigEndian.PutUint64(d[i:], s)
	}
	return d
}

// DigestOf is the digest of a set of (id, checksum) pairs given as a map.
func DigestOf(checksums map[string]string) Digest {
	var d Digest
	for id, sum := range checksums {
		d = d.Add(id, sum)
	}
	return d
}

// String is the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the digest of the empty set.
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText encodes the digest as hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a hex digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("digest: want 64 hex characters, got %d", len(b))
	}
	_, err := hex.Decode(d[:], b)
	return err
}

// ParseDigest decodes a 32-byte digest.
func ParseDigest(b []byte) (Digest, error) {
	var d Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("digest: want %d bytes, got %d", len(d), len(b))
	}
	copy(d[:], b)
	return d, nil
}
