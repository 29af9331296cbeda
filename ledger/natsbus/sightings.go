package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// SightingsBucket is the JetStream key-value bucket the relays keep every
// ledger's check-ins in, under the ledger's name: which releases run
// against each database, outside the hash chain (check-ins are
// observations, not schema transitions).
const SightingsBucket = "ledger_sightings"

// ReleaseSighting is one release seen checking in against a ledger within
// the window: its manifest (when its instances could store it) and who
// runs it.
type ReleaseSighting struct {
	Digest     string    `json:"digest"` // the release manifest's digest
	AppVersion string    `json:"app_version"`
	Policy     string    `json:"policy"`
	Stored     bool      `json:"stored"`        // its manifest is stored: IDs and Checksums are it
	IDs        []string  `json:"ids,omitempty"` // its migrations, in order
	Checksums  []string  `json:"checksums,omitempty"`
	Instances  int       `json:"instances"`
	Hosts      []string  `json:"hosts"`
	Decisions  []string  `json:"decisions"` // the verdicts its instances reported
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	LastHost   string    `json:"last_host"`
}

// Sightings are a ledger's check-ins as the relay last read them.
type Sightings struct {
	Ledger   string            `json:"ledger"`
	Window   string            `json:"window"` // releases seen within it
	Releases []ReleaseSighting `json:"releases"`
	At       time.Time         `json:"at"` // when the relay read them
}

// SightingsKV is the bucket, created if missing (replicas as given).
func SightingsKV(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, SightingsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: SightingsBucket, Description: "check-ins of the releases running against each ledger (ledger relay)",
			History: 1, Storage: jetstream.FileStorage, Replicas: max(1, replicas),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("sightings bucket %s: %w", SightingsBucket, err)
	}
	return kv, nil
}

// ReadSightings returns every ledger's sightings in the bucket, by ledger
// name (none when the bucket does not exist yet).
func ReadSightings(ctx context.Context, js jetstream.JetStream) (map[string]Sightings, error) {
	out := map[string]Sightings{}
	kv, err := js.KeyValue(ctx, SightingsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer lister.Stop()
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // deleted meanwhile
		}
		var s Sightings
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			return nil, fmt.Errorf("sightings of %s: %w", key, err)
		}
		out[key] = s
	}
	return out, nil
}

// WithSightings makes the relay publish the ledger's check-ins (the
// releases seen within window) to SightingsBucket every interval, when
// they changed (and at least every ten intervals, so that last_seen stays
// fresh).
func WithSightings(interval, window time.Duration) RelayOption {
	return func(r *Relay) error {
		if interval <= 0 || window <= 0 {
			return fmt.Errorf("sightings: want a positive interval and window, got %s and %s", interval, window)
		}
		r.sightEvery, r.sightWindow = interval, window
		return nil
	}
}

// sightState is what publishing the check-ins remembers between turns.
type sightState struct {
	kv           jetstream.KeyValue
	last         []byte // what was published last, last_seen aside
	sinceRefresh int
	at           time.Time // the last turn
}

// publishSightings runs until ctx ends.
func (r *Relay) publishSightings(ctx context.Context) {
	t := time.NewTicker(r.sightEvery)
	defer t.Stop()
	for {
		if err := r.sightingsTurn(ctx, r.store); err != nil && ctx.Err() == nil {
			r.log.Warn("relay: cannot publish the check-ins now", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sightingsDue says whether a FleetRelay's visit publishes the check-ins.
func (r *Relay) sightingsDue(now time.Time) bool {
	return r.sightEvery > 0 && now.Sub(r.sight.at) >= r.sightEvery
}

// sightingsTurn reads the ledger's check-ins through st and publishes
// them when they changed (last_seen alone: every ten turns).
func (r *Relay) sightingsTurn(ctx context.Context, st *ledger.Store) error {
	ss := &r.sight
	ss.at = time.Now()
	if ss.kv == nil {
		var err error
		opCtx, cancel := context.WithTimeout(ctx, r.ackWait)
		defer cancel()
		if ss.kv, err = SightingsKV(opCtx, r.js, r.replicas()); err != nil {
			return err
		}
	}
	seen, _, err := st.ReleasesSeen(ctx, ledger.SeenQuery{Window: r.sightWindow, Running: true})
	if err != nil {
		if errors.Is(err, ledger.ErrNotInitialized) {
			return nil
		}
		return err
	}
	name := r.Names()
	if name.Stream == "" {
		return nil
	}
	s := Sightings{Ledger: name.Prefix, Window: r.sightWindow.String(), Releases: []ReleaseSighting{}}
	for _, rs := range seen {
		s.Releases = append(s.Releases, ReleaseSighting{
			Digest: rs.Digest, AppVersion: rs.AppVersion, Policy: rs.Policy, Stored: rs.Stored, IDs: rs.IDs, Checksums: rs.Checksums,
			Instances: rs.Instances, Hosts: rs.Hosts, Decisions: rs.Decisions, FirstSeen: rs.FirstSeen, LastSeen: rs.LastSeen, LastHost: rs.LastHost,
		})
	}
	// What changed, last_seen aside, is published at once; last_seen
	// alone every ten turns.
	key := sightingsKey(s)
	ss.sinceRefresh++
	if bytes.Equal(key, ss.last) && ss.sinceRefresh < 10 {
		return nil
	}
	s.At = time.Now().UTC()
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	opCtx, cancel := context.WithTimeout(ctx, r.ackWait)
	defer cancel()
	if _, err := ss.kv.Put(opCtx, ledgerKey(name), data); err != nil {
		return err
	}
	ss.last, ss.sinceRefresh = key, 0
	return nil
}

// ledgerKey is a ledger's key in the sightings bucket: its name (the
// subject prefix without "ledger.").
func ledgerKey(n Names) string {
	const p = "ledger."
	if len(n.Prefix) > len(p) && n.Prefix[:len(p)] == p {
		return n.Prefix[len(p):]
	}
	return n.Prefix
}

func sightingsKey(s Sightings) []byte {
	c := s
	c.Releases = make([]ReleaseSighting, len(s.Releases))
	for i, r := range s.Releases {
		r.LastSeen, r.LastHost = time.Time{}, ""
		c.Releases[i] = r
	}
	b, _ := json.Marshal(c)
	return b
}
