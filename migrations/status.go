package migrations

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// StatusOptions say which release a Status judges and at which moment.
type StatusOptions struct {
	// Release is the release to judge (a manifest's Known()); nil means
	// the runner's set with its app version.
	Release *policy.Manifest
	// AsOf, when set, shows the ledger as it was then: the fold of the
	// events up to that seq, or up to the last event recorded at or before
	// that time.
	AsOf *ledger.AsOf
}

// Status is what `ledger status` shows, decided here so that a server, the
// CLI, its JSON and the report page show the same facts: the applied
// migrations this release knows (in order), what is pending, what was
// applied that it does not know, failures and migrations in doubt, and
// the verdict. Empty lists are empty, never nil, so the JSON has [] for
// scripts to iterate.
type Status struct {
	Schema        string                `json:"schema"`
	Initialized   bool                  `json:"initialized"`
	Seq           int64                 `json:"seq"`
	SchemaVersion string                `json:"schema_version"`
	Applied       []projector.Migration `json:"applied"`
	Pending       []string              `json:"pending"`
	Unknown       []policy.Unknown      `json:"unknown"`
	Mismatched    []policy.Mismatch     `json:"mismatched"`
	InDoubt       []projector.InDoubt   `json:"in_doubt"`
	// Failed: the last failure of each migration that has not been
	// applied since, in migration order.
	Failed  []projector.Failure `json:"failed"`
	Ignored []string            `json:"ignored"` // files in the directory that are not migrations
	Verdict policy.Verdict      `json:"verdict"`
	// AsOf: the moment shown, with StatusOptions.AsOf.
	AsOf *StatusMoment `json:"as_of,omitempty"`
	// Foreign: another tool's history in a database without a ledger (or
	// with an empty one): adopt it before migrating.
	Foreign []ForeignHistory `json:"foreign,omitempty"`
	// Adopted: for applied migrations adopted from another tool that kept
	// when it applied them (goose's tstamp, Flyway's installed_on), that
	// time — when the migration really ran; Applied's time is the adoption.
	Adopted map[string]SourceApplied `json:"adopted,omitempty"`
	// ReleaseSize is the number of migrations of the release judged.
	ReleaseSize int `json:"-"`
}

// StatusMoment says which moment a Status shows.
type StatusMoment struct {
	Seq        int64     `json:"seq"`         // the last event folded (0: the ledger did not exist yet)
	RecordedAt time.Time `json:"recorded_at"` // that event's time
}

// Status reports the ledger against a release (the runner's set unless
// o.Release says another). It takes no lock and never waits behind a
// running migration. A ledger whose head or format cannot be trusted is an
// error; a missing ledger is a Status with Initialized false (and any
// other tool's history in Foreign).
func (r *Runner) Status(ctx context.Context, o StatusOptions) (Status, error) {
	release := r.set.Manifest(r.cfg.appVersion)
	if o.Release != nil {
		release = *o.Release
	}
	st := Status{Schema: r.store.Schema(), Initialized: true, Ignored: slices.Clone(r.set.Ignored), ReleaseSize: len(release.Migrations)}
	var state projector.State
	var err error
	var adopted, migrated *bool // read beside the state (nil: as of a moment)
	if o.AsOf != nil {
		st.AsOf = &StatusMoment{}
		state, st.AsOf.Seq, err = r.store.StateAsOf(ctx, *o.AsOf)
		if err == nil && st.AsOf.Seq > 0 {
			var ev ledger.Event
			ev, err = r.store.Event(ctx, st.AsOf.Seq)
			st.AsOf.RecordedAt = ev.RecordedAt
		}
		if err == nil && st.AsOf.Seq == 0 {
			err = &ledger.NotInitializedError{Schema: r.store.Schema()}
		}
	} else {
		// One round trip: the state, whether a history was ever adopted
		// (for Adopted) and whether anything was ever migrated (for
		// Foreign).
		adopted, migrated = new(bool), new(bool)
		state, _, err = r.store.StateWith(ctx,
			r.store.EventsExist(adopted, projector.TypeSchemaBaselined),
			r.store.EventsExist(migrated, projector.TypeMigrationApplied, projector.TypeSchemaBaselined))
	}
	switch {
	case errors.Is(err, ledger.ErrNotInitialized):
		// No ledger (or, as of a moment, none yet): nothing was applied.
		st.Initialized, state = false, projector.NewState()
		if st.Foreign, err = r.ForeignHistories(ctx); err != nil {
			return st, err
		}
	case err != nil:
		return st, err
	case state.SchemaVersion == "" && o.AsOf == nil && !*migrated:
		// An empty ledger (ledger init) on a database another tool migrated.
		if st.Foreign, err = foreignHistories(ctx, r.db, r.store.Schema(), r.cfg.tenant); err != nil {
			return st, err
		}
	}
	st.Seq, st.SchemaVersion = state.Seq, state.SchemaVersion
	st.Verdict = policy.Evaluate(release, state, r.cfg.policy)
	st.Pending = append([]string{}, st.Verdict.Pending...)
	st.Unknown = append([]policy.Unknown{}, st.Verdict.Unknown...)
	st.Mismatched = append([]policy.Mismatch{}, st.Verdict.Mismatched...)
	st.InDoubt = append([]projector.InDoubt{}, st.Verdict.InDoubt...)
	if st.Ignored == nil {
		st.Ignored = []string{}
	}
	known := make(map[string]bool, len(release.Migrations))
	for _, m := range release.Migrations {
		known[m.ID] = true
	}
	st.Applied = []projector.Migration{}
	for _, m := range state.Sorted() {
		if known[m.ID] {
			st.Applied = append(st.Applied, m)
		}
	}
	if st.Initialized {
		var until int64
		if st.AsOf != nil {
			until = st.AsOf.Seq
		}
		var times map[string]SourceApplied
		if adopted != nil {
			times, err = sourceTimes(ctx, r.store, until, *adopted)
		} else {
			times, err = SourceTimes(ctx, r.store, until)
		}
		if err != nil {
			return st, err
		}
		if len(times) > 0 {
			st.Adopted = times
		}
	}
	st.Failed = []projector.Failure{}
	for _, f := range state.Failed {
		st.Failed = append(st.Failed, f)
	}
	slices.SortFunc(st.Failed, func(a, b projector.Failure) int {
		if c := projector.CompareIDs(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.Attempt, b.Attempt)
	})
	return st, nil
}
