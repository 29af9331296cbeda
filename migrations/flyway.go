package migrations

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strings"
)

// Flyway's SQL migrations, read unchanged: V<version>__<description>.sql
// (versioned), U<version>__<description>.sql (its undo, Flyway Teams),
// R__<description>.sql (repeatable). A version is numbers separated by
// dots or underscores (V1, V1.1, V1_1, V2024.01.15); Flyway orders them
// part by part, numerically, and 1.0 is 1.
//
// ledger orders migrations by a whole number, so a Flyway version is
// written as one (FlywayNumber): its first part, then its second and third
// parts as four digits each — V1 is 100000000, V1.1 is 100010000, V2.0.3
// is 200000003 — which orders them as Flyway does. The id is that number,
// "_", and the file name without ".sql": 100010000_V1.1__add. A version of
// more than three parts, or whose second or third part exceeds 9999, is
// refused (rename the file): no whole number could order it among the rest.
//
// The checksum the ledger records is sha256 over the file's bytes, as for
// every file; Flyway's own (CRC32, FlywayChecksum) is compared with the
// one its history recorded when the history is adopted.

var flywayName = lazyRegexp(`^(?:[VU][0-9][0-9._]*|R)__.*\.sql$`)

var flywayVersioned = lazyRegexp(`^([VU])([0-9]+(?:[._][0-9]+)*)__(.+)\.sql$`)

type flywayFile struct {
	id, number, version string
	up                  bool
	hint                string
}

func parseFlywayName(name string) (flywayFile, error) {
	if strings.HasPrefix(name, "R__") {
		return flywayFile{hint: "make it a versioned migration (V<version>__<description>.sql) holding what it should do once, or move it out of the directory"},
			fmt.Errorf("a Flyway repeatable migration (R__): ledger applies each migration once and records it; a repeatable one has no version to record")
	}
	m := flywayVersioned().FindStringSubmatch(name)
	if m == nil {
		return flywayFile{hint: "name it V<version>__<description>.sql, e.g. V1.1__add_orders.sql"},
			fmt.Errorf("looks like a Flyway migration, but %q is not a version (numbers separated by dots or underscores)", strings.SplitN(name[1:], "__", 2)[0])
	}
	version := strings.ReplaceAll(m[2], "_", ".")
	num, err := FlywayNumber(version)
	if err != nil {
		return flywayFile{hint: "renumber it: ledger orders Flyway versions of up to three parts, the second and third below 10000"}, err
	}
	stem := "V" + m[2] + "__" + m[3]
	return flywayFile{id: num + "_" + stem, number: num, version: version, up: m[1] == "V"}, nil
}

// FlywayNumber is the whole number a Flyway version ("1.1", "1_1", "2")
// orders as: see the package comment above. It fails for a version it
// cannot order.
func FlywayNumber(version string) (string, error) {
	parts := strings.FieldsFunc(version, func(r rune) bool { return r == '.' || r == '_' })
	if len(parts) == 0 {
		return "", fmt.Errorf("Flyway version %q: no number", version)
	}
	for len(parts) > 1 && strings.TrimLeft(parts[len(parts)-1], "0") == "" {
		parts = parts[:len(parts)-1] // 1.0 is 1
	}
	if len(parts) > 3 {
		return "", fmt.Errorf("Flyway version %q has %d parts; ledger orders versions of up to three", version, len(parts))
	}
	var b strings.Builder
	for i, p := range parts {
		for _, c := range p {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("Flyway version %q: %q is not a number", version, p)
			}
		}
		p = strings.TrimLeft(p, "0")
		if i == 0 {
			b.WriteString(cmpOr(p, "0"))
			continue
		}
		if len(p) > 4 {
			return "", fmt.Errorf("Flyway version %q: part %q is above 9999, which ledger cannot order", version, p)
		}
		b.WriteString(fmt.Sprintf("%04s", cmpOr(p, "0")))
	}
	for range 3 - len(parts) {
		b.WriteString("0000")
	}
	return b.String(), nil
}

// FlywayVersion is a Flyway version in its canonical form: parts without
// leading zeros, trailing zero parts dropped, joined by dots ("1_01.0" is
// "1.1"), so versions Flyway holds equal compare equal.
func FlywayVersion(version string) string {
	parts := strings.FieldsFunc(version, func(r rune) bool { return r == '.' || r == '_' })
	for i, p := range parts {
		parts[i] = cmpOr(strings.TrimLeft(p, "0"), "0")
	}
	for len(parts) > 1 && parts[len(parts)-1] == "0" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, ".")
}

// FlywayChecksum is the checksum Flyway records for a SQL migration
// (flyway-core's ChecksumCalculator): CRC32 (IEEE) over the file's lines,
// each without its line terminator (\n, \r\n or \r, as Java's
// BufferedReader.readLine splits them), as UTF-8, with a byte order mark at
// the start of the first line removed; as a signed 32-bit number. So it
// does not change with line endings, but does with any other byte.
func FlywayChecksum(data []byte) int32 {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	h := crc32.NewIEEE()
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			h.Write(data)
			break
		}
		h.Write(data[:i])
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return int32(h.Sum32())
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
