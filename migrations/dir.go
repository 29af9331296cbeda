package migrations

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"sync"

	"github.com/schema-ledger/ledger/policy"
)

// Dir is a migrations directory read for a startup check: each file is read
// from disk and hashed at most once. The fast path needs only the up files'
// ids and checksums (Known); the whole set, when the verdict calls for it
// (Load), is parsed from the same bytes, reading only the files not read yet
// (down files, other tools' formats). It is safe for concurrent use.
type Dir struct {
	opts  []LoadOption
	path  string
	fsys  *readOnce
	known []policy.Known
}

// ReadDir reads and hashes the up files of directory dir (in parallel).
// An error from a file it cannot make sense of leaves Load to say
// everything that is wrong with the directory.
func ReadDir(dir string, opts ...LoadOption) (*Dir, error) {
	if err := statDir(dir); err != nil {
		return nil, err
	}
	d := &Dir{opts: opts, path: dir, fsys: &readOnce{FS: os.DirFS(dir), files: map[string]readFile{}}}
	known, err := Checksums(d.fsys, opts...)
	d.known = known
	return d, err
}

// Known is each up file's id and checksum, in order.
func (d *Dir) Known() []policy.Known { return d.known }

// Load parses the whole set, as LoadDir does, from what was read.
func (d *Dir) Load() (*Set, error) { return load(d.fsys, d.path, d.opts...) }

// readOnce is an fs.FS that keeps what it read, and the checksum of it.
type readOnce struct {
	fs.FS
	mu    sync.Mutex
	files map[string]readFile
}

type readFile struct {
	data []byte
	sum  string
}

func (r *readOnce) ReadFile(name string) ([]byte, error) {
	f, err := r.read(name)
	return f.data, err
}

func (r *readOnce) read(name string) (readFile, error) {
	r.mu.Lock()
	f, ok := r.files[name]
	r.mu.Unlock()
	if ok {
		return f, nil
	}
	data, err := fs.ReadFile(r.FS, name)
	if err != nil {
		return readFile{}, err
	}
	sum := sha256.Sum256(data)
	f = readFile{data: data, sum: hex.EncodeToString(sum[:])}
	r.mu.Lock()
	r.files[name] = f
	r.mu.Unlock()
	return f, nil
}

// checksum is the sha256 of a file of fsys, in hex: kept from its reading
// when fsys is a readOnce.
func checksum(fsys fs.FS, name string, data []byte) string {
	if r, ok := fsys.(*readOnce); ok {
		if f, err := r.read(name); err == nil {
			return f.sum
		}
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
