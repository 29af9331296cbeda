package migrations

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"sync"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
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
	d := &Dir{opts: opts, path: dir, fsys: &readOnce{FS: newDiskFS(dir), files: map[string]readFile{}}}
	known, err := Checksums(d.fsys, opts...)
	d.known = known
	return d, err
}

// Plain reports whether the directory holds nothing but regular files
// named <id>.up.sql and <id>.down.sql, every down file beside its up file
// and each migration number used once: nothing Load would ignore, warn
// about or refuse by the names alone. A reader that does not need the
// files' statements (status, when every migration is applied as the files
// say) may then trust Known without the whole set.
func (d *Dir) Plain() bool {
	entries, err := d.fsys.ReadDir(".")
	if err != nil {
		return false
	}
	ups := map[string]bool{}
	var downs []string
	numbers := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			return false
		}
		id, up := strings.CutSuffix(name, upSuffix)
		if !up {
			var down bool
			if id, down = strings.CutSuffix(name, downSuffix); !down {
				return false
			}
			downs = append(downs, id)
		}
		num, _, err := projector.ParseID(id)
		if err != nil {
			return false
		}
		num = cmp.Or(strings.TrimLeft(num, "0"), "0")
		if other, ok := numbers[num]; ok && other != id {
			return false
		}
		numbers[num] = id
		if up {
			ups[id] = true
		}
	}
	for _, id := range downs {
		if !ups[id] {
			return false
		}
	}
	return len(ups) > 0
}

// ReadDir lists the directory once for every reader of d.
func (r *readOnce) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return fs.ReadDir(r.FS, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil && r.entriesErr == nil {
		r.entries, r.entriesErr = fs.ReadDir(r.FS, ".")
	}
	return r.entries, r.entriesErr
}

// Known is each up file's id and checksum, in order.
func (d *Dir) Known() []policy.Known { return d.known }

// Load parses the whole set, as LoadDir does, from what was read.
func (d *Dir) Load() (*Set, error) { return load(d.fsys, d.path, d.opts...) }

// readOnce is an fs.FS that keeps what it read, and the checksum of it.
type readOnce struct {
	fs.FS
	mu         sync.Mutex
	files      map[string]readFile
	entries    []fs.DirEntry // the directory's listing, once read
	entriesErr error
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
