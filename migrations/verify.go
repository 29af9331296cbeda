package migrations

import (
	"context"
	"fmt"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// VerifyOptions are what Verify checks beyond the ledger itself.
type VerifyOptions struct {
	// Expect: checkpoints (SEQ:HASH kept outside the database) the ledger
	// must still hold.
	Expect []ledger.Anchor
	// Progress, if set, is called with the number of events verified so far.
	Progress func(n int64)
}

// Verification is the whole verify: the hash chain and the projection
// (Chain), each applied migration's file against the checksum recorded
// when it was applied (Files), migrations in doubt, and the live schema
// against the last snapshot (Schema, or SchemaError when the ledger does
// not check out well enough to compare). The CLI, its JSON and the report
// page show it as it is.
type Verification struct {
	Chain   ledger.VerifyReport `json:"chain"`
	Files   []FileMismatch      `json:"files,omitempty"`
	InDoubt []projector.InDoubt `json:"in_doubt,omitempty"`
	Schema  *SchemaStatus       `json:"schema,omitempty"`
	// SchemaError: the schema could not be compared, because the ledger
	// does not check out.
	SchemaError string `json:"schema_error,omitempty"`
}

// FileMismatch is an applied migration whose file changed since.
type FileMismatch struct {
	ID       string              `json:"id"`
	File     string              `json:"file"`
	Checksum string              `json:"checksum"` // the file's now
	Applied  projector.Migration `json:"applied"`  // as recorded
}

func (f FileMismatch) String() string {
	app := f.Applied.AppVersion
	if app == "" {
		app = "-"
	}
	return fmt.Sprintf("%s: checksum %.12s, recorded %.12s when applied by %s at %s", f.File, f.Checksum, f.Applied.Checksum, app, f.Applied.AppliedAt.UTC().Format("2006-01-02 15:04:05Z"))
}

// OK reports whether everything verified: the chain, the files, nothing in
// doubt, the schema as recorded, no invalid index.
func (v Verification) OK() bool {
	return v.Chain.OK() && len(v.Files) == 0 && len(v.InDoubt) == 0 && v.SchemaError == "" &&
		(v.Schema == nil || !v.Schema.Drifted() && len(v.Schema.Invalid) == 0)
}

// Verify walks every event in order (streaming, constant memory),
// recomputes each hash and the fold, compares them with the head and the
// projection tables and with o.Expect, then checks the runner's set's
// files against the fold and the live schema against the last snapshot.
// The files and the migrations in doubt are judged from the fold read in
// the chain's own snapshot: no second read that could disagree after the
// chain checked out. An error is a failure to verify at all (the database
// unreachable), never a finding.
func (r *Runner) Verify(ctx context.Context, o VerifyOptions) (Verification, error) {
	rep, err := r.store.VerifyWith(ctx, ledger.VerifyOptions{Progress: o.Progress, Expect: o.Expect})
	if err != nil {
		return Verification{}, err
	}
	v := Verification{Chain: rep}
	for _, m := range rep.Fold.Sorted() {
		if local, ok := r.set.Lookup(m.ID); ok && local.Checksum != m.Checksum {
			v.Files = append(v.Files, FileMismatch{ID: m.ID, File: local.Up.File, Checksum: local.Checksum, Applied: m})
		}
	}
	v.InDoubt = projector.SortedInDoubt(rep.Fold.InDoubt)
	st, err := r.SchemaStatus(ctx)
	switch {
	case err == nil:
		v.Schema = &st
	case ledger.IsIntegrityError(err):
		v.SchemaError = err.Error()
	default:
		return v, err
	}
	return v, nil
}
