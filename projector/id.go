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
func CompareIDs(a, b string) int {
	an, aname, aerr := ParseID(a)
	bn, bname, berr := ParseID(b)
	switch {
	case aerr != nil && berr != nil:
		return strings.Compare(a, b)
	case aerr != nil:
		return 1
	case berr != nil:
		return -1
	}
	if c := compareDecimal(an, bn); c != 0 {
		return c
	}
	if c := strings.Compare(aname, bname); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// compareDecimal compares two strings of decimal digits by value.
func compareDecimal(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
