package migrations

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Checksums reads only what a startup check needs from a migration
// directory: each up file's id and checksum, in order — no down files, no
// parsing — reading the files in parallel. It is the fast path of `ledger
// check`; where it fails, or the verdict is not Run, Load tells the whole
// truth about the directory.
func Checksums(fsys fs.FS, opts ...LoadOption) ([]policy.Known, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var known []policy.Known
	var files []string
	var maybe []bool // a goose or tern file, if it says so
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		id, ok := strings.CutSuffix(name, upSuffix)
		switch {
		case ok:
		case strings.HasSuffix(name, downSuffix):
			continue
		case gooseName().MatchString(name):
			id, ok = strings.CutSuffix(name, gooseSuffix)
		case flywayName().MatchString(name):
			f, err := parseFlywayName(name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			id, ok = f.id, f.up
		}
		if !ok {
			continue
		}
		if _, _, err := projector.ParseID(id); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		known = append(known, policy.Known{ID: id})
		files = append(files, name)
		maybe = append(maybe, !strings.HasSuffix(name, upSuffix) && gooseName().MatchString(name))
	}
	errs := make([]error, len(known))
	ternFile := make([]bool, len(known))
	parallel(len(known), func(i int) {
		data, err := fs.ReadFile(fsys, files[i])
		if err != nil {
			errs[i] = err
			return
		}
		sum := checksum(fsys, files[i], data)
		if maybe[i] && !hasGooseUp(data) {
			// Not a goose file: a tern file, if the directory is tern's.
			ternFile[i] = hasTernSeparator(data)
			known[i].Checksum = "tern?" + sum
			return
		}
		known[i].Checksum = sum
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	tern := slices.Contains(ternFile, true)
	for i := range known {
		if sum, ok := strings.CutPrefix(known[i].Checksum, "tern?"); ok {
			known[i].Checksum = ""
			if tern {
				known[i].Checksum = sum
			}
		}
	}
	known = slices.DeleteFunc(known, func(k policy.Known) bool { return k.Checksum == "" })
	for _, g := range newLoadConfig(opts).gos {
		known = append(known, policy.Known{ID: g.ID, Checksum: GoChecksum(g.ID, g.Checksum)})
	}
	slices.SortFunc(known, func(a, b policy.Known) int { return projector.CompareIDs(a.ID, b.ID) })
	return known, nil
}
