// Package examples holds the migration sets of the demo's releases, embedded
// so the demo (cmd/ledger-demo) needs nothing but a PostgreSQL server.
//
// release-1.2.0 creates accounts and orders; release 1.2.3 ships the very
// same set (a patch release with no schema change); release-1.3.0 adds an
// additive migration (compatible with >=1.2.0) and a destructive one
// (compatible only with >=1.3.0).
package examples

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed release-1.2.0 release-1.3.0
var releases embed.FS

// Release returns the migration set of a demo release, "1.2.0" or "1.3.0".
func Release(version string) (fs.FS, error) {
	dir := "release-" + version
	if _, err := fs.Stat(releases, dir); err != nil {
		return nil, fmt.Errorf("no demo release %s", version)
	}
	return fs.Sub(releases, dir)
}
