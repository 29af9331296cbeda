package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tablespace is a tablespace on a tmpfs of its own, a few megabytes large,
// that a test fills to make PostgreSQL fail with a full disk (53100, "could
// not extend file …: No space left on device"). It lives in a throwaway
// Cluster, never in the shared server: a filesystem taken away under files
// a server still has (or has yet to fsync) makes that server PANIC.
//
// Create it before the database that uses it: cleanups run in reverse
// order, so the database goes first, then the tablespace, and only once
// PostgreSQL has dropped it is the tmpfs unmounted (when the drop fails the
// mount is left in place and the test fails saying so); the cluster stops
// last.
type Tablespace struct {
	Name  string // cluster-global, unique to the test
	t     testing.TB
	c     *Cluster
	mount string // the tmpfs
	fill  string // the file that fills it
}

// NewTablespace mounts a tmpfs of size (mount's syntax: "4m") and creates
// a tablespace of the cluster in it. It needs root (to mount); without it,
// it skips (and fails under CI).
func (c *Cluster) NewTablespace(size string) *Tablespace {
	t := c.t
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "a full disk needs a tmpfs, and mounting one needs root (uid %d)", os.Geteuid())
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	ts := &Tablespace{Name: "ledger_full_" + hex.EncodeToString(b[:]), t: t, c: c}
	dir, err := os.MkdirTemp("", "ledger-fault-disk-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the server reaches its tablespace through it
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		_ = os.Remove(dir)
		SkipOrFail(t, "mount a tmpfs for a full disk: %v: %s", err, out)
	}
	ts.mount, ts.fill = dir, filepath.Join(dir, "fill")
	loc := filepath.Join(dir, "ts")
	created := false
	t.Cleanup(func() { ts.cleanup(created) })
	if err := os.Mkdir(loc, 0o700); err != nil {
		t.Fatal(err)
	}
	if c.as != "" {
		if out, err := exec.Command("chown", c.as+":", loc).CombinedOutput(); err != nil {
			t.Fatalf("give the tablespace's directory to the cluster's user %s: %v: %s", c.as, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to the test's cluster: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE TABLESPACE "+ts.Name+" LOCATION '"+loc+"'"); err != nil {
		t.Fatalf("create a tablespace on a tmpfs: %v", err)
	}
	created = true
	return ts
}

// Fill fills the tmpfs to the last byte: from then on, every file of the
// tablespace that grows fails with ENOSPC. Files that were already written
// keep their pages.
func (ts *Tablespace) Fill() {
	ts.t.Helper()
	f, err := os.OpenFile(ts.fill, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		_, err := f.Write(chunk)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			ts.t.Fatal(err)
		}
	}
	for size := len(chunk) / 2; size >= 1; size /= 2 { // the last pages, to the byte
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				break
			}
		}
	}
}

// Free gives the filled space back.
func (ts *Tablespace) Free() {
	ts.t.Helper()
	if err := os.Remove(ts.fill); err != nil && !errors.Is(err, os.ErrNotExist) {
		ts.t.Fatal(err)
	}
}

func (ts *Tablespace) cleanup(created bool) {
	_ = os.Remove(ts.fill)
	if created {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ts.c.URL("postgres"))
		if err != nil {
			ts.t.Errorf("drop tablespace %s: %v; its tmpfs stays mounted at %s", ts.Name, err, ts.mount)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP TABLESPACE "+ts.Name); err != nil {
			ts.t.Errorf("drop tablespace %s: %v; its tmpfs stays mounted at %s (drop what is in it, the tablespace, then umount)", ts.Name, err, ts.mount)
			return
		}
	}
	// Dropped: the server removed its files itself. Anything left is not
	// the server's to lose, but unmount only an empty directory anyway.
	if left, _ := os.ReadDir(filepath.Join(ts.mount, "ts")); len(left) > 0 {
		ts.t.Errorf("tablespace %s dropped, but its directory still holds %d entries; its tmpfs stays mounted at %s", ts.Name, len(left), ts.mount)
		return
	}
	if out, err := exec.Command("umount", ts.mount).CombinedOutput(); err != nil {
		ts.t.Errorf("umount %s: %v: %s", ts.mount, err, out)
		return
	}
	_ = os.Remove(ts.mount)
}
