package watch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/policy"
)

// LastEvent is who did the newest thing to a ledger.
type LastEvent struct {
	Seq        int64     `json:"seq"`
	Type       string    `json:"type"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Host       string    `json:"host"`
	AppVersion string    `json:"app_version"`
}

// LedgerState is one ledger of the fleet as its stream says, folded with
// the projector, and the releases seen running against it.
type LedgerState struct {
	Name          string                    `json:"name"`
	Stream        string                    `json:"stream"`
	Seq           int64                     `json:"seq"`
	SchemaVersion string                    `json:"schema_version"`
	Applied       int                       `json:"applied"`
	InDoubt       int                       `json:"in_doubt"`
	Failed        int                       `json:"failed"`
	Drifted       bool                      `json:"drifted"` // a change outside the migrations, not accepted
	Last          *LastEvent                `json:"last_event,omitempty"`
	Releases      []natsbus.ReleaseSighting `json:"releases"`
	// Verdict is, when a release was asked about, its decision here: run,
	// migrate or refuse ("unknown" when no manifest of it is known here).
	Verdict *ReleaseVerdict `json:"verdict,omitempty"`
	Error   string          `json:"error,omitempty"` // the stream could not be read
}

// ReleaseVerdict is what a release would decide against a ledger.
type ReleaseVerdict struct {
	AppVersion string   `json:"app_version"`
	Decision   string   `json:"decision"`
	Reasons    []string `json:"reasons,omitempty"`
}

// FleetQuery says what FleetState also judges.
type FleetQuery struct {
	// Release, when set, is judged against every ledger: by Manifest if
	// given, else by the manifest its instances stored when they checked
	// in there (a ledger where it was never seen says "unknown").
	Release  string
	Manifest *policy.Manifest
	Policy   policy.Policy
	Workers  int // streams read at once (default 64)
}

// FleetState folds every ledger stream on the server (LEDGER_*, subjects
// ledger.<name>.events.>) with the projector — no database is read — and
// adds the check-ins the relays published. Ledgers come back by name.
func FleetState(ctx context.Context, js jetstream.JetStream, q FleetQuery) ([]LedgerState, error) {
	// One listing gives every stream with its last sequence.
	var streams []string
	lastSeq := map[string]int64{}
	list := js.ListStreams(ctx, jetstream.WithStreamListSubject("ledger.*.events.>"))
	for info := range list.Info() {
		n := info.Config.Name
		if strings.HasPrefix(n, "LEDGER_") && !strings.HasSuffix(n, "_ALERTS") {
			streams = append(streams, n)
			lastSeq[n] = int64(info.State.LastSeq)
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("list the ledger streams: %w", err)
	}
	slices.Sort(streams)
	seen, err := natsbus.ReadSightings(ctx, js)
	if err != nil {
		return nil, err
	}
	out := make([]LedgerState, len(streams))
	workers := q.Workers
	if workers <= 0 {
		workers = 64
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range work {
				out[i] = ledgerState(ctx, js, streams[i], lastSeq[streams[i]], seen, q)
			}
		})
	}
	for i := range streams {
		work <- i
	}
	close(work)
	wg.Wait()
	slices.SortFunc(out, func(a, b LedgerState) int { return strings.Compare(a.Name, b.Name) })
	return out, ctx.Err()
}

func ledgerState(ctx context.Context, js jetstream.JetStream, stream string, last int64, seen map[string]natsbus.Sightings, q FleetQuery) LedgerState {
	name := strings.TrimPrefix(stream, "LEDGER_")
	n := natsbus.Names{Stream: stream, Prefix: "ledger." + name}
	ls := LedgerState{Name: name, Stream: stream, Releases: seen[name].Releases}
	if ls.Releases == nil {
		ls.Releases = []natsbus.ReleaseSighting{}
	}
	manifest, pol, asked := q.Manifest, q.Policy, q.Release != "" || q.Manifest != nil
	if q.Manifest == nil && q.Release != "" {
		for _, r := range ls.Releases {
			if r.AppVersion == q.Release && r.Stored && len(r.IDs) == len(r.Checksums) {
				m := policy.Manifest{AppVersion: r.AppVersion}
				for i, id := range r.IDs {
					m.Migrations = append(m.Migrations, policy.Known{ID: id, Checksum: r.Checksums[i]})
				}
				manifest = &m
				if p, err := policy.Parse(r.Policy); err == nil {
					pol = p
				}
				break
			}
		}
	}
	var g *Guard
	if manifest != nil {
		g = NewGuard(*manifest, pol)
	} else {
		g = NewGuard(policy.Manifest{}, policy.Strict)
	}
	for ev, err := range natsbus.ReadRange(ctx, js, n, 0, last) {
		if err != nil {
			ls.Error = err.Error()
			break
		}
		if err := g.Fold(ev); err != nil {
			ls.Error = fmt.Sprintf("fold seq %d: %v", ev.Seq, err)
			break
		}
		ls.Last = &LastEvent{Seq: ev.Seq, Type: ev.Type, At: ev.RecordedAt, Actor: ev.Actor, Host: ev.Host, AppVersion: ev.AppVersion}
	}
	st := g.State()
	ls.Seq, ls.SchemaVersion, ls.Applied, ls.InDoubt, ls.Failed = st.Seq, st.SchemaVersion, len(st.Applied), len(st.InDoubt), len(st.Failed)
	ls.Drifted = len(g.drifts) > 0
	if asked {
		v := &ReleaseVerdict{AppVersion: q.Release, Decision: "unknown"}
		if manifest != nil {
			verdict := g.Verdict()
			v.AppVersion, v.Decision = manifest.AppVersion, verdict.Decision.String()
			for _, r := range verdict.Reasons {
				v.Reasons = append(v.Reasons, r.Message)
			}
		} else {
			v.Reasons = []string{"release " + q.Release + " was never seen checking in here, and no manifest of it was given"}
		}
		ls.Verdict = v
	}
	return ls
}
