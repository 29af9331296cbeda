package sqllex

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from the splitter's output")

// Golden files: testdata/NAME.sql split into statements, each with its line
// and offset, as testdata/NAME.golden. Run with -update after a deliberate
// change, and read the diff.
func TestSplitGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.sql"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			stmts, err := Split(string(src))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%d statement(s)\n", len(stmts))
			for i, st := range stmts {
				if string(src[st.Offset:st.Offset+len(st.Text)]) != st.Text {
					t.Errorf("statement %d: offset %d does not point at its text", i+1, st.Offset)
				}
				fmt.Fprintf(&b, "--- %d: line %d, offset %d\n%s\n", i+1, st.Line, st.Offset, st.Text)
			}
			golden := strings.TrimSuffix(in, ".sql") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", in, golden, b.String(), want)
			}
		})
	}
}
