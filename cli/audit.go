package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

const timeLayout = "2006-01-02 15:04:05Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// ---- status

// statusView is status's JSON: the library's Status, with the database
// named, the moment as it was asked for, and each other tool's history with
// the command that adopts it.
type statusView struct {
	Database string `json:"database"`
	migrations.Status
	AsOf    *asOfView     `json:"as_of,omitempty"`
	Foreign []foreignView `json:"foreign,omitempty"`
}

// foreignView is another tool's history with the command that adopts it.
type foreignView struct {
	migrations.ForeignHistory
	Command string `json:"command"`
}

// asOfView says which moment status --as-of shows.
type asOfView struct {
	Requested string `json:"requested"`
	migrations.StatusMoment
}

// parseAsOf reads a seq (digits) or a time (as parseTime).
func parseAsOf(s string, now time.Time) (ledger.AsOf, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return ledger.AsOf{}, fmt.Errorf("seq %d: want a positive event seq", n)
		}
		return ledger.AsOf{Seq: n}, nil
	}
	t, err := parseTime(s, now)
	if err != nil {
		return ledger.AsOf{}, fmt.Errorf("%q is neither an event seq nor a time: use a seq (42), RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25) or a duration ago (36h)", s)
	}
	return ledger.AsOf{Time: t}, nil
}

func cmdStatus() *command {
	return &command{
		name: "status", args: "[--manifest FILE] [--as-of TIME|SEQ] [--json]",
		short: "the schema version, then applied (who, when, which release), pending and unknown migrations",
		long: `Shows every migration the ledger says is applied — when, by which release,
database user and host — the migrations of this release still pending, those
applied that this release does not know, and anything in doubt or failed.
It takes no lock and never waits behind a running migration.

--as-of TIME|SEQ shows the ledger as it was then: the fold of the events up
to that seq, or up to the last event recorded at or before that time (RFC
3339, a date, or a duration ago such as 36h) — applied set, schema version,
in-doubt and failed migrations, and what this release would have been told.`,
		example:  "  ledger status --dir ./migrations\n  ledger status --manifest release.json\n  ledger status --json | jq '.pending'",
		newFlags: func() runnable { return &statusCmd{rel: releaseFlags{withPolicy: true}} },
	}
}

type statusCmd struct {
	db       dbFlags
	dir      dirFlags
	rel      releaseFlags
	out      outputFlags
	manifest string
	asOf     string
}

func (c *statusCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out)
	fs.StringVar(&c.manifest, "manifest", "", "compare with the release described by manifest `FILE` instead of --dir")
	fs.StringVar(&c.asOf, "as-of", "", "show the ledger as it was at this `TIME or SEQ`")
}

func (c *statusCmd) run(ctx context.Context, e *env, args []string) int {
	var o migrations.StatusOptions
	if c.asOf != "" {
		moment, err := parseAsOf(c.asOf, time.Now())
		if err != nil {
			return e.usageErr("--as-of: %v", err)
		}
		o.AsOf = &moment
	}
	source := c.dir.path
	if c.manifest != "" {
		m, code := e.readRelease(c.manifest, &c.rel)
		if code != 0 {
			return code
		}
		known := m.Known()
		o.Release, source = &known, c.manifest
	}
	var st migrations.Status
	if o.Release == nil {
		var code int
		if st, code = e.statusOfDir(ctx, c, o); code != 0 {
			return code
		}
	} else {
		p, code := e.prepare(ctx, false)
		if code != 0 {
			return code
		}
		var err error
		if st, err = p.runner.Status(ctx, o); err != nil {
			return e.fail(err)
		}
	}
	v := statusView{Database: e.where(), Status: st}
	if st.AsOf != nil {
		v.AsOf = &asOfView{Requested: c.asOf, StatusMoment: *st.AsOf}
	}
	for _, h := range st.Foreign {
		v.Foreign = append(v.Foreign, foreignView{ForeignHistory: h, Command: e.adoptCommand(h.Fix())})
	}
	if c.out.json {
		return e.printJSON(v)
	}
	// Buffered: a line per migration, each written in pieces, was
	// thousands of write calls for a big set.
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	printStatus(w, v, source, st.ReleaseSize)
	if err := w.Flush(); err != nil {
		return e.fail(err)
	}
	return exitOK
}

// statusOfDir is the status of the release in --dir. Like check, it reads
// and hashes only the up files while it connects, when the directory's
// names alone say the set is plain (Dir.Plain); the whole set is parsed,
// and its warnings and errors reported, only when the ledger does not hold
// exactly those files (the verdict is not Run) — or at once, for any other
// directory. One state read either way.
func (e *env) statusOfDir(ctx context.Context, c *statusCmd, o migrations.StatusOptions) (migrations.Status, int) {
	var st migrations.Status
	pool, err := e.connect(ctx)
	if err != nil {
		return st, e.fail(err)
	}
	warm := make(chan error, 1)
	go func() {
		conn, err := pool.Acquire(ctx)
		if err == nil {
			conn.Release()
		}
		warm <- err
	}()
	set := &migrations.Set{}
	dir, err := migrations.ReadDir(c.dir.path, e.loadOpts...)
	plain := err == nil && dir.Plain()
	if plain {
		release := policy.Manifest{Migrations: dir.Known()}
		if c.rel.version != nil {
			release.AppVersion = c.rel.versionText
		}
		o.Release = &release
	} else {
		if err == nil {
			set, err = dir.Load()
		} else {
			set, err = migrations.LoadDir(c.dir.path, e.loadOpts...)
		}
		if err != nil {
			return st, e.fail(err) // the set's problems first, as prepare reports them
		}
		e.reportSet(set)
	}
	if err := <-warm; err != nil {
		return st, e.fail(err)
	}
	runner, err := migrations.NewRunner(pool, set, e.options()...)
	if err != nil {
		return st, e.usageErr("%v", err)
	}
	if st, err = runner.Status(ctx, o); err != nil {
		return st, e.fail(err)
	}
	if plain && st.Verdict.Decision != policy.Run {
		// Not exactly these files: the whole set, checked and reported.
		set, err := dir.Load()
		if err != nil {
			return st, e.fail(err)
		}
		e.reportSet(set)
	}
	return st, 0
}

func printStatus(w io.Writer, v statusView, dir string, setSize int) {
	// The schema version first: what goose version and migrate version users look for.
	switch {
	case v.AsOf != nil:
	case len(v.Foreign) > 0:
		fmt.Fprintf(w, "schema version: - in the ledger (%s says %s)\n", v.Foreign[0].Tool, orDash(v.Foreign[0].Version))
	default:
		fmt.Fprintf(w, "schema version: %s\n", orDash(v.SchemaVersion))
	}
	switch {
	case v.AsOf != nil && v.AsOf.Seq == 0:
		fmt.Fprintf(w, "%s, ledger schema %q as of %s: the ledger did not exist yet\n", v.Database, v.Schema, v.AsOf.Requested)
	case v.AsOf != nil:
		fmt.Fprintf(w, "%s, ledger schema %q as of %s: seq %d (recorded %s), schema version %s\n", v.Database, v.Schema, v.AsOf.Requested, v.Seq, ts(v.AsOf.RecordedAt), orDash(v.SchemaVersion))
	case len(v.Foreign) > 0:
		fmt.Fprintf(w, "%s: no migration in ledger schema %q, but another migration tool has been migrating this database; adopt its history before ledger up:\n", v.Database, v.Schema)
		for _, f := range v.Foreign {
			fmt.Fprintf(w, "  %s: table %s, version %s\n    %s\n", f.Tool, f.Table, orDash(f.Version), f.Command)
		}
	case !v.Initialized:
		fmt.Fprintf(w, "%s: no ledger in schema %q yet (ledger up creates it)\n", v.Database, v.Schema)
	default:
		fmt.Fprintf(w, "%s, ledger schema %q: seq %d, schema version %s\n", v.Database, v.Schema, v.Seq, orDash(v.SchemaVersion))
	}
	fmt.Fprintf(w, "migrations in %s: %d\n", dir, setSize)
	mismatched := map[string]bool{}
	for _, m := range v.Mismatched {
		mismatched[m.ID] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nApplied (%d):\n", len(v.Applied))
	if len(v.Applied) > 0 {
		fmt.Fprintln(tw, "  ID\tAPPLIED AT (UTC)\tRELEASE\tACTOR\tHOST\t")
		for _, m := range v.Applied {
			var notes []string
			at := ts(m.AppliedAt)
			if src, ok := v.Adopted[m.ID]; ok {
				// When the other tool really applied it; the ledger's own
				// time is when it was adopted.
				at = ts(src.AppliedAt)
				notes = append(notes, fmt.Sprintf("applied by %s, adopted %s", src.From, ts(m.AppliedAt)))
			}
			if mismatched[m.ID] {
				notes = append(notes, "FILE CHANGED SINCE APPLIED")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", m.ID, at, orDash(m.AppVersion), m.Actor, m.Host, strings.Join(notes, "; "))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nPending (%d):\n", len(v.Pending))
	for _, id := range v.Pending {
		fmt.Fprintf(w, "  %s\n", id)
	}
	if len(v.Unknown) > 0 {
		fmt.Fprintf(tw, "\nApplied but not in this release (%d):\n", len(v.Unknown))
		fmt.Fprintln(tw, "  ID\tAPPLIED AT (UTC)\tRELEASE\tACTOR\tHOST\tCOMPATIBLE\t")
		for _, u := range v.Unknown {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", u.ID, ts(u.AppliedAt), orDash(u.AppVersion), u.Actor, u.Host, orDash(u.Compatible))
		}
		tw.Flush()
	}
	if len(v.InDoubt) > 0 {
		fmt.Fprintf(w, "\nIn doubt (%d): settle with ledger resolve ID --resume, or --applied|--failed --reason TEXT\n", len(v.InDoubt))
		for _, d := range v.InDoubt {
			fmt.Fprintf(w, "  %s  started %s by %s on %s; %d statement(s) done", d.ID, ts(d.StartedAt), orDash(d.AppVersion), d.Host, d.StatementsDone)
			if d.Error != "" {
				fmt.Fprintf(w, "; failed: %s", oneLine(d.Error, 120))
			}
			if len(d.LeftBehind) > 0 {
				fmt.Fprintf(w, "; statement %d left invalid index %s (resume drops it first)", d.StatementsDone+1, strings.Join(d.LeftBehind, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	if len(v.Failed) > 0 {
		fmt.Fprintf(w, "\nLast failures (%d):\n", len(v.Failed))
		for _, f := range v.Failed {
			fmt.Fprintf(w, "  %s  %s attempt %d by %s: %s\n", f.ID, ts(f.FailedAt), f.Attempt, orDash(f.AppVersion), oneLine(f.Error, 120))
		}
	}
	first, _, _ := strings.Cut(v.Verdict.Message(), "\n")
	fmt.Fprintf(w, "\nVerdict: %s\n", first)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// ---- history

func cmdHistory() *command {
	return &command{
		name: "history", args: "[--type T] [--migration ID] [--release V] [--since T] [--until T] [--actor U] [--limit N] [--json | --format text|json|csv]",
		short: "the audit trail: who changed the schema, when, from which host and release",
		long: `Lists ledger events in order. Filters combine. --since and --until take
RFC 3339 times (2026-11-25T10:00:00Z), dates (2026-11-25) or a duration ago
(36h). --limit N shows the newest N. --release V shows what release V
recorded. --json (or --format json) writes one event per line; --format
csv writes a header line, then one row per event (for a spreadsheet).

Event types: ` + strings.Join(projector.Types(), ", "),
		example: `  ledger history --migration 0004_drop_accounts_nickname
  ledger history --type migration.failed --since 24h --json | jq .payload.error
  ledger history --release 1.3.0 --format csv > release-1.3.0.csv`,
		newFlags: func() runnable { return &historyCmd{} },
	}
}

type historyCmd struct {
	db                                      dbFlags
	out                                     outputFlags
	types                                   stringList
	migration, since, until, actor, release string
	format                                  string
	limit                                   int
}

func (c *historyCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out)
	fs.Var(&c.types, "type", "only events of this `type` (repeat or comma-separate)")
	fs.StringVar(&c.migration, "migration", "", "only events about this migration `ID`")
	fs.StringVar(&c.since, "since", "", "only events at or after `TIME`")
	fs.StringVar(&c.until, "until", "", "only events before `TIME`")
	fs.StringVar(&c.actor, "actor", "", "only events recorded by this database `user`")
	fs.IntVar(&c.limit, "limit", 0, "only the newest `N` events (0: all)")
	fs.StringVar(&c.release, "release", "", "only events recorded by this release (app `version`)")
	fs.StringVar(&c.format, "format", "", "output `format`: text, json (one event per line, as --json) or csv (a header line, then one row per event)")
}

func (c *historyCmd) run(ctx context.Context, e *env, args []string) int {
	{
		switch c.format {
		case "", "text":
		case "json":
			c.out.json = true
		case "csv":
			if c.out.json {
				return e.usageErr("--json and --format csv do not go together")
			}
		default:
			return e.usageErr("--format %q: want text, json or csv", c.format)
		}
		f := ledger.Filter{Types: c.types, MigrationID: c.migration, Actor: c.actor, AppVersion: c.release}
		for _, t := range f.Types {
			if !projector.KnownType(t) {
				return e.usageErr("--type %q: unknown event type; known: %s", t, strings.Join(projector.Types(), ", "))
			}
		}
		var err error
		now := time.Now()
		if f.Since, err = parseTime(c.since, now); err != nil {
			return e.usageErr("--since: %v", err)
		}
		if f.Until, err = parseTime(c.until, now); err != nil {
			return e.usageErr("--until: %v", err)
		}
		if c.limit < 0 {
			return e.usageErr("--limit %d: want zero or a positive number", c.limit)
		}
		if c.limit > 0 {
			f.Limit, f.Newest = c.limit, true
		}
		p, code := e.prepare(ctx, false)
		if code != 0 {
			return code
		}
		if c.format == "csv" {
			return e.historyCSV(ctx, p.runner.Store(), f)
		}
		var events []ledger.Event
		for ev, err := range p.runner.Store().Events(ctx, f) {
			if err != nil {
				return e.fail(err)
			}
			if c.out.json && !f.Newest {
				if err := writeEventJSON(e.stdout, ev); err != nil {
					return e.fail(err)
				}
				continue
			}
			events = append(events, ev)
		}
		if f.Newest { // fetched newest first; show in order
			for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
				events[i], events[j] = events[j], events[i]
			}
		}
		if c.out.json {
			for _, ev := range events {
				if err := writeEventJSON(e.stdout, ev); err != nil {
					return e.fail(err)
				}
			}
			return exitOK
		}
		printHistory(e.stdout, events)
		return exitOK
	}
}

// parseTime reads RFC 3339, a date, a date and time, or a duration ago.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25) or a duration ago (36h)", s)
}

// writeEventJSON writes ev as one JSON line: the body the relay publishes
// to NATS (ledger.EncodeEvent), so `history --json` and the stream carry
// one shape.
func writeEventJSON(w io.Writer, ev ledger.Event) error {
	b, err := ledger.EncodeEvent(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func printHistory(w io.Writer, events []ledger.Event) {
	if len(events) == 0 {
		fmt.Fprintln(w, "no events match")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECORDED AT (UTC)\tEVENT\tMIGRATION\tRELEASE\tACTOR\tHOST\tDETAIL")
	for _, ev := range events {
		ids := projector.IDs(ev)
		id := strings.Join(ids, ",")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ts(ev.RecordedAt), ev.Type, orDash(id), orDash(ev.AppVersion), ev.Actor, ev.Host, detail(ev))
	}
	tw.Flush()
}

// detail is the one thing worth knowing about an event beyond its type.
func detail(ev ledger.Event) string {
	var p map[string]any
	_ = json.Unmarshal(ev.Payload, &p)
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch ev.Type {
	case projector.TypeMigrationApplied:
		d := fmt.Sprintf("%vms", p["duration_ms"])
		if a, ok := p["adopted"].(map[string]any); ok {
			d = fmt.Sprintf("adopted from %v", a["from"])
			if v, ok := a["version"]; ok {
				d += fmt.Sprintf(" version %v", v)
			}
		}
		if c := str("compatible"); c != "" {
			d += ", compatible " + c
		}
		if t, _ := p["transactional"].(bool); !t {
			d += ", no-transaction"
		}
		return d
	case projector.TypeMigrationReverted:
		return "down from " + str("source")
	case projector.TypeMigrationFailed:
		return oneLine(fmt.Sprintf("attempt %v: %s", p["attempt"], str("error")), 100)
	case projector.TypeMigrationResolved:
		return oneLine(str("decision")+": "+str("reason"), 100)
	case projector.TypeSchemaFingerprinted:
		return fmt.Sprintf("%.12s, %v objects", str("fingerprint"), p["objects"])
	case projector.TypeSchemaDrifted:
		n, _ := p["changes"].([]any)
		return fmt.Sprintf("%.12s, %d object(s) changed outside the migrations", str("fingerprint"), len(n))
	case projector.TypeSchemaChanged:
		var c projector.Changed
		_ = json.Unmarshal(ev.Payload, &c)
		ids := make([]string, len(c.Objects))
		for i, o := range c.Objects {
			ids[i] = o.Identity
		}
		return oneLine(fmt.Sprintf("%s %s (%s)", c.CommandTag, strings.Join(ids, ", "), orDash(c.ApplicationName)), 100)
	case projector.TypeSchemaDriftAccepted:
		return oneLine(fmt.Sprintf("%.12s: %s", str("fingerprint"), str("reason")), 100)
	case projector.TypeLedgerInitialized:
		return fmt.Sprintf("format %v, schema %s", p["format"], str("schema"))
	case projector.TypeSchemaBaselined:
		return "from " + str("source")
	case projector.TypeMigrationAccepted:
		return oneLine(fmt.Sprintf("checksum %.12s -> %.12s: %s", str("previous_checksum"), str("checksum"), str("reason")), 100)
	}
	return ""
}

// ---- verify

func cmdVerify() *command {
	return &command{
		name: "verify", args: "[--expect-head SEQ:HASH] [--nats URL [--nats-creds FILE] [--name N]] [--json]",
		short: "check the hash chain, the projection, the files' checksums and the schema fingerprint",
		long: `Walks every event in order (streaming; constant memory), recomputes each
hash and the fold of all events, and compares them with the head and the
projection tables. Then it checks that each applied migration's file in
--dir has the checksum recorded when it was applied, and that the schema's
catalog fingerprint still equals the one recorded at the end of the last run
(a difference is a change made outside the ledger).

Every field of the head and the projection tables (applied, in doubt,
failed, the head's in-doubt count) is compared with the fold, and each
event's committed state with the fold up to it; each difference is listed.

--expect-head SEQ:HASH (from ledger checkpoint, kept outside the database;
repeatable) proves the ledger still holds exactly that history: the event
at SEQ must have that hash, and the chain up to it must verify. A history
re-chained by a superuser or a cut tail cannot pass it, though it can pass
every check inside the database.

--nats URL (given on the command line; NATS_URL alone does not turn it on)
also compares the chain with the copy ledger relay published to JetStream
(stream LEDGER_<name>, --name as for relay): same seq, same hash, same prev
hash for every event the stream holds, and names the first divergence. Events
the relay has not published yet are not a divergence; an event the stream
holds that the database lost is.

Exit codes: 0 everything verifies; 5 something does not, or a migration is
in doubt (the report says what, starting with the first broken seq); 1
error (including output that could not be written).`,
		example:  "  ledger verify --dir ./migrations\n  ledger verify --expect-head \"$(cat /secure/ledger-checkpoint)\"",
		newFlags: func() runnable { return &verifyCmd{} },
	}
}

type verifyCmd struct {
	db         dbFlags
	dir        dirFlags
	out        outputFlags
	nats       natsFlags
	expectHead stringList
}

func (c *verifyCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.out, &c.nats)
	fs.Var(&c.expectHead, "expect-head", "the ledger must still hold this checkpoint (`SEQ:HASH`, from ledger checkpoint); repeatable")
}

func (c *verifyCmd) run(ctx context.Context, e *env, args []string) int {
	{
		if e.given["nats"] && !natsBuilt {
			return e.usageErr("--nats: %v", errNoNATS)
		}
		var anchors []ledger.Anchor
		for _, a := range c.expectHead {
			anchor, err := ledger.ParseAnchor(a)
			if err != nil {
				return e.usageErr("--expect-head: %v (the checkpoint as `ledger checkpoint` prints it)", err)
			}
			anchors = append(anchors, anchor)
		}
		p, code := e.prepare(ctx, true)
		if code != 0 {
			return code
		}
		progress := func(n int64) {
			if e.isTerminal && !c.out.json {
				fmt.Fprintf(e.stderr, "\r\033[Kverified %d events…", n)
			}
		}
		if os.Getenv("GOGC") == "" {
			// The walk allocates fast and keeps little alive (a few MB):
			// collecting a quarter as often saves a fifth of its CPU, for
			// ~15 MB more at 1,000,000 events (bench/README.md, issue 26).
			defer debug.SetGCPercent(debug.SetGCPercent(400))
		}
		ver, err := p.runner.Verify(ctx, migrations.VerifyOptions{Progress: progress, Expect: anchors})
		if e.isTerminal && !c.out.json {
			fmt.Fprint(e.stderr, "\r\033[K")
		}
		if err != nil {
			return e.fail(err)
		}
		rep := ver.Chain
		out := struct {
			Chain   ledger.VerifyReport      `json:"chain"`
			Files   []string                 `json:"files,omitempty"`
			InDoubt []string                 `json:"in_doubt,omitempty"`
			Schema  *migrations.SchemaStatus `json:"schema,omitempty"`
			// SchemaError: the schema could not be compared, because
			// the ledger does not check out.
			SchemaError string `json:"schema_error,omitempty"`
			// Stream: with --nats, the chain compared with its copy in JetStream.
			Stream *streamReport `json:"stream,omitempty"`
			OK     bool          `json:"ok"`
		}{Chain: rep, Schema: ver.Schema, SchemaError: ver.SchemaError}
		if e.given["nats"] {
			sr, err := e.verifyNATS(ctx, p.runner.Store(), &c.nats)
			if err != nil {
				return e.fail(err)
			}
			out.Stream = &sr
		}
		for _, f := range ver.Files {
			out.Files = append(out.Files, f.String())
		}
		for _, d := range ver.InDoubt {
			line := fmt.Sprintf("%s started %s by %s on %s and never finished", d.ID, ts(d.StartedAt), orDash(d.AppVersion), orDash(d.Host))
			if len(d.LeftBehind) > 0 {
				line += fmt.Sprintf("; statement %d left invalid index %s", d.StatementsDone+1, strings.Join(d.LeftBehind, ", "))
			}
			out.InDoubt = append(out.InDoubt, line)
		}
		out.OK = ver.OK() && (out.Stream == nil || out.Stream.OK())
		if c.out.json {
			if c := e.printJSON(out); c != exitOK {
				return c
			}
		} else {
			fmt.Fprintln(e.stdout, rep.String())
			if out.Stream != nil {
				fmt.Fprintln(e.stdout, out.Stream.String())
			}
			for _, f := range out.Files {
				fmt.Fprintf(e.stdout, "file changed: %s\n", f)
			}
			for _, d := range out.InDoubt {
				fmt.Fprintf(e.stdout, "in doubt: %s; settle it with ledger resolve ID --resume, or --applied|--failed --reason TEXT\n", d)
			}
			if out.Schema != nil {
				printSchemaStatus(e.stdout, *out.Schema)
			}
			if out.SchemaError != "" {
				fmt.Fprintf(e.stdout, "schema not compared: %s\n", out.SchemaError)
			}
		}
		if !out.OK {
			return exitIntegrity
		}
		return exitOK
	}
}
