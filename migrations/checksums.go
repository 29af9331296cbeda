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
func Checksums(fsys fs.FS) ([]policy.Known, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var known []policy.Known
	var files []string
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, upSuffix)
		if !ok && !strings.HasSuffix(name, downSuffix) && gooseName.MatchString(name) {
			id, ok = strings.CutSuffix(name, gooseSuffix) // a goose file, if it says so
		}
		if !ok || e.IsDir() {
			continue
		}
		if _, _, err := projector.ParseID(id); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		known = append(known, policy.Known{ID: id})
		files = append(files, name)
	}
	errs := make([]error, len(known))
	parallel(len(known), func(i int) {
		data, err := fs.ReadFile(fsys, files[i])
		if err != nil {
			errs[i] = err
			return
		}
		if !strings.HasSuffix(files[i], upSuffix) && !hasGooseUp(data) {
			return // not a migration: Load ignores it too
		}
		known[i].Checksum = checksum(fsys, files[i], data)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	known = slices.DeleteFunc(known, func(k policy.Known) bool { return k.Checksum == "" })
	slices.SortFunc(known, func(a, b policy.Known) int { return projector.CompareIDs(a.ID, b.ID) })
	return known, nil
}
