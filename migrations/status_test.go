package migrations_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
)

// Status is decided by the library, the same every time: failures in
// migration order (not a map's), applied in order, and a verdict.
func TestStatusIsStableAndOrdered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	// Three migrations fail, each in a run of its own, newest id first.
	for _, id := range []string{"0003_c", "0002_b", "0001_a"} {
		r := runner(t, pool, load(t, map[string]string{id: "SELECT 1/0;"}))
		if _, err := r.Up(ctx, migrations.UpOptions{}); err == nil {
			t.Fatalf("%s: up succeeded, want a division by zero", id)
		}
	}
	fsys := files(map[string]string{"0001_a": "SELECT 1/0;", "0002_b": "SELECT 1/0;", "0003_c": "SELECT 1/0;"})
	fsys["README.md"] = &fstest.MapFile{Data: []byte("not a migration")}
	set, err := migrations.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r := runner(t, pool, set, migrations.WithAppVersion("1.0.0"))
	var first []byte
	for i := range 5 {
		st, err := r.Status(ctx, migrations.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range st.Failed {
			ids = append(ids, f.ID)
		}
		if want := []string{"0001_a", "0002_b", "0003_c"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("failed %v, want %v (migration order)", ids, want)
		}
		if !reflect.DeepEqual(st.Pending, []string{"0001_a", "0002_b", "0003_c"}) || len(st.Applied) != 0 || st.ReleaseSize != 3 {
			t.Fatalf("pending %v, applied %v, release size %d", st.Pending, st.Applied, st.ReleaseSize)
		}
		if !reflect.DeepEqual(st.Ignored, []string{"README.md"}) || !st.Initialized {
			t.Fatalf("ignored %v, initialized %v", st.Ignored, st.Initialized)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("status differs between two reads of the same ledger:\n%s\n%s", first, b)
		}
	}
}

// Verify is the library's: a clean ledger verifies; an applied file that
// changed is named, with the checksum recorded when it was applied.
func TestVerifyNamesAChangedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := runner(t, pool, load(t, map[string]string{"0001_a": "CREATE TABLE a (id int);"})).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := runner(t, pool, load(t, map[string]string{"0001_a": "CREATE TABLE a (id int);"})).Verify(ctx, migrations.VerifyOptions{})
	if err != nil || !v.OK() {
		t.Fatalf("a clean ledger: ok %v, %+v, %v", v.OK(), v, err)
	}
	v, err = runner(t, pool, load(t, map[string]string{"0001_a": "CREATE TABLE a (id bigint);"})).Verify(ctx, migrations.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || len(v.Files) != 1 || v.Files[0].ID != "0001_a" || v.Files[0].Checksum == v.Files[0].Applied.Checksum {
		t.Fatalf("a changed file: ok %v, files %+v", v.OK(), v.Files)
	}
}
