package projector

import (
	"fmt"
	"strings"
)

// ParseID splits a migration id "<number>_<name>" into its decimal number
// (leading zeros kept, as written) and its name. The name may hold any
// character a file name may, dots included ("0010_1.9.0_schema").
func ParseID(id string) (number, name string, err error) {
	i := strings.IndexByte(id, '_')
	if i <= 0 || i == len(id)-1 {
		return "", "", fmt.Errorf("migration id %q: want <number>_<name>, e.g. 0007_add_orders", id)
	}
	number, name = id[:i], id[i+1:]
	for _, c := range number {
		if c < '0' || c > '9' {
			return "", "", fmt.Errorf("migration id %q: %q is not a decimal number", id, number)
		}
	}
	if strings.ContainsAny(name, "/\x00\n\r") {
		return "", "", fmt.Errorf("migration id %q: the name holds a character no file name may hold", id)
	}
	return number, name, nil
}

// CompareIDs orders migration ids: by number (numerically, however many
// digits), then by name, then by the id itself (so "07_a" and "7_a" still
// have a stable order). Ids that do not parse sort after those that do, by
// their text. It returns -1, 0 or +1.
func CompareIDs(a, b string) int { return keyOf(a).compare(keyOf(b)) }

// idKey is what CompareIDs compares an id by, parsed once.
type idKey struct {
	id, number, name string // number without leading zeros
	bad              bool
}

func keyOf(id string) idKey {
	n, name, err := ParseID(id)
	return idKey{id: id, number: strings.TrimLeft(n, "0"), name: name, bad: err != nil}
}

func (a idKey) compare(b idKey) int {
	switch {
	case a.bad && b.bad:
		return strings.Compare(a.id, b.id)
	case a.bad:
		return 1
	case b.bad:
		return -1
	}
	if c := CompareNumbers(a.number, b.number); c != 0 {
		return c
	}
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// CompareNumbers compares two strings of decimal digits without leading
// zeros by value, however many digits they have (migration numbers, other
// tools' versions).
func CompareNumbers(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
