package migrations

import (
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
)

// countingFS counts how often each file is opened.
type countingFS struct {
	fs.FS
	mu     sync.Mutex
	opened map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opened[name]++
	c.mu.Unlock()
	return c.FS.Open(name)
}

// The startup check's fast path and the full load after it read each file
// once, and hash it once.
func TestDirReadsEachFileOnce(t *testing.T) {
	files := fstest.MapFS{
		"0001_a.up.sql":   {Data: []byte("CREATE TABLE a (id int);")},
		"0001_a.down.sql": {Data: []byte("DROP TABLE a;")},
		"0002_b.up.sql":   {Data: []byte("-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY b ON a (id);")},
		"README.md":       {Data: []byte("notes")},
	}
	c := &countingFS{FS: files, opened: map[string]int{}}
	d := &Dir{path: "migrations", fsys: &readOnce{FS: c, files: map[string]readFile{}}}
	known, err := Checksums(d.fsys)
	if err != nil || len(known) != 2 {
		t.Fatalf("Checksums: %v %v", known, err)
	}
	set, err := d.Load()
	if err != nil || len(set.Migrations) != 2 || set.Migrations[0].Down == nil {
		t.Fatalf("Load: %v %v", set, err)
	}
	for i, m := range set.Migrations {
		if m.Checksum != known[i].Checksum {
			t.Errorf("%s: checksum %s from Load, %s from the fast path", m.ID, m.Checksum, known[i].Checksum)
		}
	}
	for name, n := range c.opened {
		if name != "." && n > 1 {
			t.Errorf("%s opened %d times", name, n)
		}
	}
	if c.opened["0001_a.down.sql"] != 1 {
		t.Errorf("the down file was opened %d times, want once (by Load)", c.opened["0001_a.down.sql"])
	}
}
