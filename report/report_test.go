package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/report"
)

func fmtInt(n int) string { return strconv.Itoa(n) }

func recheck(cp string) string { return "ledger verify --expect-head " + cp }

// noURL fails if the page holds an http: or https: reference anywhere.
func noURL(t testing.TB, what string, page []byte) {
	t.Helper()
	if m := regexp.MustCompile(`(?i)https?:`).Find(page); m != nil {
		i := bytes.Index(page, m)
		t.Fatalf("%s holds a network reference %q: …%s…", what, m, page[max(0, i-80):min(len(page), i+80)])
	}
}

// noReference fails if a DOM refers to anything on a network (a text
// that quotes a URL is not a reference: the page's source holds none).
func noReference(t testing.TB, what, dom string) {
	t.Helper()
	if m := regexp.MustCompile(`(?i)(\b(href|src|srcset|action|formaction|poster|data|xlink:href)\s*=\s*["']?\s*(https?:|//))|url\(\s*["']?\s*(https?:|//)|@import`).FindString(dom); m != "" {
		t.Fatalf("%s refers to the network: %q", what, m)
	}
}

func render(t testing.TB, r *report.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.RenderHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// contains fails for each want the text does not hold.
func contains(t testing.TB, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not hold %q", what, w)
		}
	}
}

// The demo's history as a page: the model holds every kind of transition
// the story made, and chromium renders a page whose DOM — with and
// without scripts — holds the migration ids, the releases, the failure's
// SQLSTATE, the drift line and the verification line, whose screenshot
// is not blank, and which prints on A4 pages. LEDGER_REPORT_SCREENSHOT=FILE keeps the
// screenshot (docs/report.png is made so).
func TestDemoPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := demoHistory(t)
	r, err := report.Build(ctx, store, report.Options{Database: "the demo's database", Recheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Verification
	if !v.OK || !strings.HasPrefix(v.Summary, "Verified while this report was made") || v.Events != r.Cut.Total || v.Events == 0 {
		t.Fatalf("verification: %+v (events in the cut: %d)", v, r.Cut.Total)
	}
	if !regexp.MustCompile(`^\d+:[0-9a-f]{64}$`).MatchString(v.Checkpoint) || v.Recheck != "ledger verify --expect-head "+v.Checkpoint {
		t.Fatalf("checkpoint %q, recheck %q", v.Checkpoint, v.Recheck)
	}
	if r.Now.SchemaVersion != "0005_orders_status_index" || r.Now.Applied != 4 || len(r.Now.Failed) != 1 || r.Now.Failed[0] != "0006_orders_customer" {
		t.Fatalf("now: %+v", r.Now)
	}
	var versions []string
	for _, rel := range r.Releases {
		versions = append(versions, rel.Version)
	}
	if got := strings.Join(versions, " "); got != "1.2.0 1.3.0 1.2.4 1.3.1" {
		t.Fatalf("releases that recorded events: %s", got)
	}
	applied130 := r.Releases[1].Applied.Items
	if len(applied130) != 2 || applied130[0].Migration != "0003_add_orders_status" || applied130[1].Migration != "0004_drop_accounts_nickname" || applied130[0].Host != "deploy-7" {
		t.Fatalf("1.3.0 applied: %+v", applied130)
	}
	if rv := r.Releases[0].Reverted.Items; len(rv) != 2 || !strings.Contains(rv[0].Note, "recorded") {
		t.Fatalf("1.2.0 reverted: %+v", rv)
	}
	states := map[string]string{}
	for _, f := range r.Failures.Items {
		states[f.Migration] = f.SQLState
	}
	if states["0006_orders_customer"] != "42P01" || states["0005_orders_status_index"] != "22012" || r.Failures.Items[0].LeftInDoubt != true {
		t.Fatalf("failures: %+v", r.Failures.Items)
	}
	if len(r.Drift.Items) != 1 || !strings.Contains(strings.Join(r.Drift.Items[0].Changes, "\n"), "sneaky_hotfix") || r.Drift.Items[0].AcceptedSeq == 0 || !r.Drift.Items[0].Refused {
		t.Fatalf("drift: %+v", r.Drift.Items)
	}
	if len(r.Accepted.Items) != 2 || r.Accepted.Items[0].What != "drift" || r.Accepted.Items[1].What != "checksum" || r.Accepted.Items[1].Migration != "0001_create_accounts" {
		t.Fatalf("accepted: %+v", r.Accepted.Items)
	}
	if d := r.InDoubt.Items; len(d) != 1 || !d[0].Settled || d[0].Decision != "applied" || d[0].Migration != "0005_orders_status_index" {
		t.Fatalf("in doubt: %+v", d)
	}
	kinds := map[report.Kind]int{}
	for _, m := range r.Timeline.Marks {
		kinds[m.Kind]++
	}
	for _, k := range []report.Kind{report.KindApplied, report.KindReverted, report.KindFailed, report.KindInDoubt, report.KindResolved, report.KindDrifted, report.KindAccepted} {
		if kinds[k] == 0 {
			t.Errorf("the timeline marks no %s transition: %v", k, kinds)
		}
	}
	if r.Timeline.Aggregated || len(r.Timeline.Lanes) != 4 {
		t.Fatalf("timeline: aggregated %v, %d lanes", r.Timeline.Aggregated, len(r.Timeline.Lanes))
	}
	seen := map[string]bool{}
	for _, s := range r.Seen {
		seen[s.Release] = true
	}
	if !seen["1.2.3"] || !seen["1.3.1"] {
		t.Fatalf("releases seen: %+v", r.Seen)
	}

	// --json writes the same model.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(js, &back); err != nil || back.Verification.Checkpoint != v.Checkpoint || back.Failures.Total != 2 {
		t.Fatalf("JSON round trip: %v, %+v", err, back.Verification)
	}

	page := render(t, r)
	noURL(t, "the page", page)
	if !bytes.Contains(page, []byte("https&#58;//status.example.com/INC-42")) {
		t.Errorf("the reason's URL is not kept as text")
	}
	file := writePage(t, page)
	want := []string{"0001_create_accounts", "0002_create_orders", "0003_add_orders_status", "0004_drop_accounts_nickname",
		"0005_orders_status_index", "0006_orders_customer", "Release 1.2.0", "Release 1.3.0", "Release 1.2.4", "Release 1.3.1",
		`<code class="sqlstate">42P01</code>`, `<code class="sqlstate">22012</code>`, "Verification: passed", v.Summary, v.Checkpoint, v.Recheck,
		"keep the index added during incident INC-42"}
	driftLine := regexp.MustCompile(`<li class="drift-line">[^<]*sneaky_hotfix[^<]*</li>`)
	for _, scripts := range []bool{true, false} {
		dom := dumpDOM(t, file, scripts)
		what := "the DOM with scripts"
		if !scripts {
			what = "the DOM without scripts"
		}
		contains(t, what, dom, want...)
		if !driftLine.MatchString(dom) {
			t.Errorf("%s has no drift line naming sneaky_hotfix", what)
		}
		noReference(t, what, dom)
		filtersShown := strings.Contains(dom, `<div id="event-filters" class="filters">`)
		if filtersShown != scripts {
			t.Errorf("%s: the filters are shown: %v (only scripts show them)", what, filtersShown)
		}
		if scripts && !regexp.MustCompile(`\d+ of \d+ shown`).MatchString(dom) {
			t.Errorf("%s: the script did not count the events shown", what)
		}
		accessible(t, what, dom)
	}
	if pages := printedOnA4(t, file); pages < 2 {
		t.Errorf("the page prints on %d A4 page(s); the demo's history fills more", pages)
	}
	shot := filepath.Join(t.TempDir(), "demo.png")
	notBlank(t, screenshot(t, file, shot, 1280, 1600))
	if keep := os.Getenv("LEDGER_REPORT_SCREENSHOT"); keep != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A ledger whose history was edited (by a superuser who bypassed the
// triggers) is reported, and its page says at the top, in words, that it
// fails verification.
func TestTamperedPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	seedLedger(t, store, pool, 300, 48*time.Hour)
	forge(t, pool, "UPDATE ledger.events SET actor = 'mallory' WHERE seq = 120")
	r, err := report.Build(ctx, store, report.Options{Recheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verification.OK || !strings.Contains(r.Verification.Summary, "FAILS verification") || !strings.Contains(r.Verification.Problems[0], "seq 120") {
		t.Fatalf("verification of a tampered ledger: %+v", r.Verification)
	}
	page := render(t, r)
	noURL(t, "the page", page)
	dom := dumpDOM(t, writePage(t, page), true)
	noReference(t, "the DOM", dom)
	contains(t, "the DOM", dom, "Verification: FAILED — this ledger does not verify", "This ledger FAILS verification", "the hash chain is broken at seq 120")
	// It says so before anything else the page shows.
	if i, j := strings.Index(dom, "This ledger FAILS verification"), strings.Index(dom, `id="now"`); i < 0 || j < 0 || i > j {
		t.Errorf("the failed verification is not at the top (at %d, the first section at %d)", i, j)
	}
}

// accessible checks what a screen reader needs of the page: a language,
// one h1, a caption and header cells in every table, and a title and a
// description for the drawing.
func accessible(t testing.TB, what, dom string) {
	t.Helper()
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllStringIndex(dom, -1)) }
	tables, captions, theads := count(`<table[ >]`), count(`<caption>`), count(`<thead>`)
	switch {
	case !strings.Contains(dom, `<html lang="en">`):
		t.Errorf("%s: no language", what)
	case count(`<h1[ >]`) != 1 || count(`<h2[ >]`) < 5:
		t.Errorf("%s: %d h1 and %d h2 headings", what, count(`<h1[ >]`), count(`<h2[ >]`))
	case tables == 0 || captions != tables || theads != tables:
		t.Errorf("%s: %d tables, %d captions, %d header rows", what, tables, captions, theads)
	case count(`<th scope="col"`) == 0 || count(`<th `) != count(`<th scope="(col|row)"`):
		t.Errorf("%s: a header cell without a scope", what)
	case !regexp.MustCompile(`<svg id="timeline-svg"[^>]* role="img" aria-labelledby="tl-title tl-desc"`).MatchString(dom) ||
		!regexp.MustCompile(`<title id="tl-title">[^<]+</title><desc id="tl-desc">[^<]+releases: [^<]+</desc>`).MatchString(dom):
		t.Errorf("%s: the timeline has no text alternative", what)
	}
}

// forge runs sql as a superuser that bypasses the ledger's triggers.
func forge(t testing.TB, pool *pgxpool.Pool, sql string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), sql)
		return err
	})
	if err != nil {
		t.Fatalf("forge %q: %v", sql, err)
	}
}

// A Verifier of the caller's own that neither visits the events nor
// carries their fold: the report reads the events it walked afterwards,
// and takes the state now from the projection — the same page.
func TestOwnVerifier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	end := seedLedger(t, store, pool, 400, 24*time.Hour)
	now := func() time.Time { return end }
	own := func(ctx context.Context, _ func(ledger.Event)) (report.Verification, error) {
		rep, err := store.Verify(ctx, nil)
		return report.Verification{OK: rep.OK(), Events: rep.Events, Summary: "verified by the caller"}, err
	}
	mine, err := report.Build(ctx, store, report.Options{Verify: own, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	std, err := report.Build(ctx, store, report.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if mine.Verification.Summary != "verified by the caller" || mine.Verification.Checkpoint != std.Verification.Checkpoint {
		t.Fatalf("own verification: %+v", mine.Verification)
	}
	a, _ := json.Marshal([]any{mine.Now, mine.Detail, mine.Timeline, mine.Releases, mine.Failures})
	b, _ := json.Marshal([]any{std.Now, std.Detail, std.Timeline, std.Releases, std.Failures})
	if !bytes.Equal(a, b) {
		t.Fatalf("the pages differ:\n%s\n%s", a, b)
	}
}
