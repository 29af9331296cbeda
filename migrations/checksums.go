package migrations

import (
	"crypto/sha256"
	"encoding/hex"
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
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), upSuffix)
		if !ok || e.IsDir() {
			continue
		}
		if _, _, err := projector.ParseID(id); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		known = append(known, policy.Known{ID: id})
	}
	errs := make([]error, len(known))
	parallel(len(known), func(i int) {
		data, err := fs.ReadFile(fsys, known[i].ID+upSuffix)
		if err != nil {
			errs[i] = err
			return
		}
		sum := sha256.Sum256(data)
		known[i].Checksum = hex.EncodeToString(sum[:])
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(known, func(a, b policy.Known) int { return projector.CompareIDs(a.ID, b.ID) })
	return known, nil
}
