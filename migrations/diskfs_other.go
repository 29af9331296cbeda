//go:build !unix

package migrations

import "os"

func readWholeFile(path string) ([]byte, error) { return os.ReadFile(path) }
