package migrations

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Fleet is who ran against this database recently: every release seen
// within a window, and what each would be told now.
type Fleet struct {
	Window        time.Duration  `json:"window_ns"`
	Seq           int64          `json:"seq"` // the ledger the verdicts are against
	SchemaVersion string         `json:"schema_version"`
	Releases      []FleetRelease `json:"releases"`
	// Future are sightings dated after now, which check-ins (timed by the
	// server's clock) cannot write: left out of Releases.
	Future []ledger.FutureSighting `json:"future_sightings,omitempty"`
}

// FleetRelease is one release seen within the window.
type FleetRelease struct {
	AppVersion     string    `json:"release"`
	Policy         string    `json:"policy"`
	ManifestDigest string    `json:"manifest_digest"`
	Instances      int       `json:"instances"`
	Hosts          []string  `json:"hosts"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	LastHost       string    `json:"last_host"`
	Reported       []string  `json:"reported"` // the verdicts its instances reported when they checked in
	// Now is the release's verdict against the ledger as it is now (nil:
	// its manifest was never stored, so it cannot be judged).
	Now *policy.Verdict `json:"verdict_now"`
}

// releaseKnown is a stored release as the policy sees it.
func releaseKnown(r ledger.Release) policy.Manifest {
	m := policy.Manifest{AppVersion: r.AppVersion, Migrations: make([]policy.Known, len(r.IDs))}
	for i, id := range r.IDs {
		m.Migrations[i] = policy.Known{ID: id, Checksum: r.Checksums[i]}
	}
	return m
}

// judge is Evaluate for a stored release under the policy it checked in with.
func judge(r ledger.Release, s projector.State) policy.Verdict {
	p, err := policy.Parse(r.Policy)
	if err != nil {
		p = policy.Strict
	}
	return policy.Evaluate(releaseKnown(r), s, p)
}

// Fleet lists the releases seen within window (by WithClock's clock, or
// the server's) and judges each against the ledger now.
func (r *Runner) Fleet(ctx context.Context, window time.Duration) (Fleet, error) {
	state, _, err := r.readState(ctx)
	if err != nil {
		return Fleet{}, err
	}
	var now time.Time
	if r.cfg.clock != nil {
		now = r.cfg.clock()
	}
	seen, future, err := r.store.ReleasesSeen(ctx, ledger.SeenQuery{Window: window, Now: now})
	if err != nil {
		return Fleet{}, err
	}
	f := Fleet{Window: window, Seq: state.Seq, SchemaVersion: state.SchemaVersion, Releases: make([]FleetRelease, len(seen)), Future: future}
	verdicts := judgeAll(seen, state)
	for i, s := range seen {
		fr := FleetRelease{
			AppVersion: s.AppVersion, Policy: s.Policy, ManifestDigest: s.Digest, Instances: s.Instances,
			Hosts: s.Hosts, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, LastHost: s.LastHost, Reported: s.Decisions,
		}
		if s.Stored {
			fr.Now = &verdicts[i]
		}
		f.Releases[i] = fr
	}
	return f, nil
}

// judgeAll judges each stored release against s, the releases split among
// the processors: Evaluate is pure, and s is only read.
func judgeAll(seen []ledger.ReleaseSeen, s projector.State) []policy.Verdict {
	out := make([]policy.Verdict, len(seen))
	workers := min(runtime.GOMAXPROCS(0), len(seen)/8+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(seen); i += workers {
				if seen[i].Stored {
					out[i] = judge(seen[i].Release, s)
				}
			}
		})
	}
	wg.Wait()
	return out
}
