package migrations

import (
	"io/fs"
	"os"
)

// diskFS is os.DirFS(root) whose ReadFile takes half the system calls:
// on Linux os.ReadFile makes ten per file (the descriptor is offered to
// the poller and taken back: four fcntl and a failing epoll_ctl), which
// for a directory of a thousand migrations was most of a status.
type diskFS struct {
	fsys fs.FS // os.DirFS(root)
	root string
}

func newDiskFS(root string) diskFS { return diskFS{fsys: os.DirFS(root), root: root} }

func (d diskFS) Open(name string) (fs.File, error) { return d.fsys.Open(name) }

func (d diskFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(d.fsys, name) }

func (d diskFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(d.fsys, name) }

// ReadFile reads name as os.DirFS does (an error names the file as given).
func (d diskFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrInvalid}
	}
	b, err := readWholeFile(d.root + string(os.PathSeparator) + name)
	if e, ok := err.(*fs.PathError); ok {
		e.Path = name
	}
	return b, err
}
