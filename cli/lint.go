package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/schema-ledger/ledger/migrations"
)

// lintProblem is one thing lint found, at a file (and line, if known).
type lintProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Severity string `json:"severity"` // "error" or "warning"; both fail lint
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

func (p lintProblem) String() string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	s := fmt.Sprintf("%s: %s: %s", where, p.Severity, p.Message)
	if p.Hint != "" {
		s += "\n    hint: " + p.Hint
	}
	return s
}

// lintReport is lint's JSON.
type lintReport struct {
	Dir        string        `json:"dir"`
	Migrations int           `json:"migrations"`
	Checks     []string      `json:"checks"`
	Problems   []lintProblem `json:"problems"`
}

// linter is one check lint runs, with no database. To add one (e.g. a
// release manifest's), append it to linters: it gets the env (flags) and
// the report so far, and adds problems.
type linter struct {
	name string
	run  func(e *env, c *lintCmd, r *lintReport) error
}

func (c *lintCmd) linters() []linter {
	ls := []linter{{name: "migrations", run: lintMigrations}}
	if c.manifest != "" {
		ls = append(ls, linter{name: "manifest", run: lintManifest})
	}
	return ls
}

// lintMigrations loads the migration directory as up and check would and
// reports every problem of every file, and every warning.
func lintMigrations(e *env, c *lintCmd, r *lintReport) error {
	set, err := migrations.LoadDir(c.dir.path)
	if err != nil {
		var derr *migrations.DirError
		if errors.As(err, &derr) {
			return err // not a finding: there is nothing to lint
		}
		for _, fe := range fileErrors(err) {
			r.Problems = append(r.Problems, lintProblem{File: fe.File, Line: fe.Line, Severity: "error", Message: fe.Msg, Hint: fe.Hint})
		}
		if len(r.Problems) == 0 {
			return err
		}
		return nil
	}
	r.Migrations = len(set.Migrations)
	for _, w := range set.Warnings {
		// A warning names its file first: "<dir>/<file>: …" or "<dir>/<file> holds …".
		file, msg := c.dir.path, w
		if i := strings.IndexAny(w, ": "); i > 0 && strings.HasSuffix(w[:i], ".sql") {
			file, msg = w[:i], strings.TrimLeft(w[i:], ": ")
		}
		r.Problems = append(r.Problems, lintProblem{File: file, Severity: "warning", Message: msg})
	}
	return nil
}

// fileErrors unwraps the *FileError values Load joined.
func fileErrors(err error) []*migrations.FileError {
	var out []*migrations.FileError
	var walk func(error)
	walk = func(err error) {
		var fe *migrations.FileError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	walk(err)
	return out
}

func cmdLint() *command {
	return &command{
		name: "lint", args: "[--dir D] [--manifest FILE] [--json]",
		short: "check the migration files without a database (exit 0 clean, 1 problems)",
		long: `Loads the migration directory exactly as up and check would — file names,
numbering, directives, goose annotations, transaction control, statements
that cannot run in a transaction, psql meta-commands — and reports every
problem of every file with file:line and a hint, warnings included. It needs
no database, so CI can gate migration files on any runner. With --manifest
FILE it also proves that the release's manifest lists exactly the
directory's migrations (ids, checksums, transactional flags, constraints).

Exit codes: 0 clean, 1 problems found (or the directory is missing), 2 usage.`,
		example: `  ledger lint --dir ./migrations
  ledger lint --json | jq '.problems[] | "\(.file):\(.line) \(.message)"'`,
		newFlags: func() runnable { return &lintCmd{} },
	}
}

type lintCmd struct {
	dir      dirFlags
	rel      releaseFlags
	out      outputFlags
	manifest string
}

func (c *lintCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.dir, &c.rel, &c.out)
	fs.StringVar(&c.manifest, "manifest", "", "also prove that release manifest `FILE` (ledger manifest) matches the directory")
}

func (c *lintCmd) run(ctx context.Context, e *env, args []string) int {
	r := lintReport{Dir: c.dir.path, Problems: []lintProblem{}}
	for _, l := range c.linters() {
		r.Checks = append(r.Checks, l.name)
		if err := l.run(e, c, &r); err != nil {
			return e.fail(err)
		}
	}
	code := exitOK
	if len(r.Problems) > 0 {
		code = exitError
	}
	if c.out.json {
		if c := e.printJSON(r); c != 0 {
			return c
		}
		return code
	}
	for _, p := range r.Problems {
		fmt.Fprintln(e.stdout, p)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintf(e.stdout, "%s: %d migration(s), no problems\n", c.dir.path, r.Migrations)
	} else {
		fmt.Fprintf(e.stdout, "%s: %d problem(s)\n", c.dir.path, len(r.Problems))
	}
	return code
}
