package migrations

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// Plain: only what Load takes without a word by the names alone — every
// other directory is loaded whole by a reader that would skip it.
func TestDirPlain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		plain bool
	}{
		{"pairs", []string{"0001_a.up.sql", "0001_a.down.sql", "0002_b.up.sql"}, true},
		{"empty", nil, false},
		{"readme", []string{"0001_a.up.sql", "README.md"}, false},
		{"down without up", []string{"0001_a.up.sql", "0002_b.down.sql"}, false},
		{"one number twice", []string{"0001_a.up.sql", "1_b.up.sql"}, false},
		{"goose file", []string{"00001_a.sql"}, false},
		{"upper-case suffix", []string{"0001_a.UP.sql"}, false},
		{"bad id", []string{"a.up.sql"}, false},
		{"subdirectory", []string{"0001_a.up.sql", "seeds/x.sql"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				path := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("SELECT 1;\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d, err := ReadDir(dir)
			if err != nil {
				if tc.plain {
					t.Fatal(err)
				}
				return
			}
			if got := d.Plain(); got != tc.plain {
				t.Errorf("Plain() = %v, want %v", got, tc.plain)
			}
			if !tc.plain {
				return
			}
			// Plain is a promise about Load: it takes the directory without
			// a warning, ignoring nothing, with the same checksums.
			set, err := d.Load()
			if err != nil || len(set.Warnings) > 0 || len(set.Ignored) > 0 {
				t.Fatalf("Load of a plain directory: %v, warnings %v, ignored %v", err, set.Warnings, set.Ignored)
			}
			if got, want := d.Known(), set.Manifest("").Migrations; !slices.Equal(got, want) {
				t.Errorf("Known %v, Load's manifest %v", got, want)
			}
		})
	}
}
