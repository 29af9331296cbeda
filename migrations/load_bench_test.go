package migrations_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/migrations"
)

// BenchmarkLoadDeploySchema loads the set of bench/deploy.sh at 1,000
// tables: one 2,000-statement schema file and one small migration. A no-op
// up pays this on every run, before it knows there is nothing to do.
func BenchmarkLoadDeploySchema(b *testing.B) {
	dir := b.TempDir()
	var up, down strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&up, "CREATE TABLE app_%05d (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n", i)
		fmt.Fprintf(&up, "CREATE INDEX app_%05d_name_idx ON app_%05d (name);\n", i, i)
		fmt.Fprintf(&down, "DROP TABLE app_%05d;\n", i)
	}
	files := map[string]string{
		"00001_schema.up.sql": up.String(), "00001_schema.down.sql": down.String(),
		"00002_new.up.sql":   "CREATE TABLE deploy_new (id bigint PRIMARY KEY, note text);\n",
		"00002_new.down.sql": "DROP TABLE deploy_new;\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(up.Len() + down.Len()))
	b.ReportAllocs()
	for b.Loop() {
		set, err := migrations.LoadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(set.Migrations) != 2 {
			b.Fatalf("%d migrations, want 2", len(set.Migrations))
		}
	}
}
