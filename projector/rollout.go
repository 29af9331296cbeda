package projector

// The payloads of a rollout's events. A rollout runs one migration set over
// many targets (databases, or tenant schemas of one database) and records
// its plan, each target's outcome, halts, interruptions, resumes and its
// end in a control ledger. These events change no projection: the fold
// only checks that each is well formed. The fleet package reads a
// rollout's state from them.

// RolloutTarget is one target of a rollout as its plan records it. URL
// never holds a password.
type RolloutTarget struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Tenant string `json:"tenant,omitempty"` // the tenant schema, for schema-per-tenant
	Ledger string `json:"ledger"`           // the target's ledger schema
	Server string `json:"server"`           // host:port, what --per-host counts by
}

// RolloutOptions are a rollout's waves and budget as its plan records them.
type RolloutOptions struct {
	Canary      int    `json:"canary"`
	Parallel    int    `json:"parallel"`
	PerHost     int    `json:"per_host,omitempty"`
	MaxFailures int    `json:"max_failures"`
	SoakMS      int64  `json:"soak_ms,omitempty"`
	Health      string `json:"health,omitempty"`
	LockTimeout int64  `json:"lock_timeout_ms,omitempty"`
	// LedgerSchema is the targets' ledger schema (for tenants, the base of theirs).
	LedgerSchema string `json:"ledger_schema,omitempty"`
}

// RolloutStarted is the payload of rollout.started: the plan.
type RolloutStarted struct {
	ID            string          `json:"id"`
	Release       string          `json:"release"` // the app version that rolls out
	Policy        string          `json:"policy"`
	SetDigest     string          `json:"set_digest"` // of the migration set (ids and checksums)
	Migrations    []string        `json:"migrations"`
	Targets       []RolloutTarget `json:"targets"`
	TargetsDigest string          `json:"targets_digest"`
	Options       RolloutOptions  `json:"options"`
	Who           string          `json:"who"` // the operating-system user who started it
}

// Outcomes of rollout.target.
const (
	OutcomeApplied = "applied" // migrations were applied (possibly none left after a race)
	OutcomeAtSet   = "at_set"  // the target already held the set: one head read
	OutcomeFailed  = "failed"
	OutcomeRefused = "refused" // refused by a policy or guard, as up refuses
	OutcomeSkipped = "skipped" // excluded by the operator at a resume
)

// RolloutOutcome is the payload of rollout.target: what happened on one
// target, and the target ledger's head after it — seq and hash, so the
// control ledger anchors each target's chain.
type RolloutOutcome struct {
	ID         string   `json:"id"`
	Target     string   `json:"target"` // its name
	Outcome    string   `json:"outcome"`
	Applied    []string `json:"applied,omitempty"`
	Unknown    []string `json:"unknown,omitempty"` // refused: the migrations there this release does not know
	SQLState   string   `json:"sqlstate,omitempty"`
	Error      string   `json:"error,omitempty"`
	DurationMS int64    `json:"duration_ms"`
	Seq        int64    `json:"seq"`            // the target ledger's head after
	Hash       string   `json:"hash,omitempty"` // hex
	Canary     bool     `json:"canary,omitempty"`
}

// RolloutHalted is the payload of rollout.halted: no target starts after it.
type RolloutHalted struct {
	ID       string `json:"id"`
	Reason   string `json:"reason"`
	Failures int    `json:"failures"`
}

// RolloutInterrupted is the payload of rollout.interrupted: the controller
// was stopped (Ctrl-C, SIGTERM); a resume goes on.
type RolloutInterrupted struct {
	ID       string   `json:"id"`
	Reason   string   `json:"reason"`
	InFlight []string `json:"in_flight,omitempty"` // targets stopped while they ran: they have no outcome
}

// RolloutResumed is the payload of rollout.resumed: an operator went on
// with the targets not done, leaving out Skip.
type RolloutResumed struct {
	ID   string   `json:"id"`
	Skip []string `json:"skip,omitempty"`
	Who  string   `json:"who"`
}

// RolloutFinished is the payload of rollout.finished: every target has an
// outcome (or the rollout halted and will not go on).
type RolloutFinished struct {
	ID      string `json:"id"`
	AtSet   int    `json:"at_set"`
	Applied int    `json:"applied"`
	Failed  int    `json:"failed"`
	Refused int    `json:"refused"`
	Skipped int    `json:"skipped"`
}

// rolloutEvent checks a rollout event's payload; the projection does not change.
func rolloutEvent(e Event) (Change, error) {
	var id string
	switch e.Type {
	case TypeRolloutStarted:
		var p RolloutStarted
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		if p.SetDigest == "" || p.TargetsDigest == "" {
			return Change{}, invalid(e, "rollout %s: a plan without its set or targets digest", p.ID)
		}
		seen := map[string]bool{}
		for _, t := range p.Targets {
			if t.Name == "" || seen[t.Name] {
				return Change{}, invalid(e, "rollout %s: target name %q is empty or not unique", p.ID, t.Name)
			}
			seen[t.Name] = true
		}
		id = p.ID
	case TypeRolloutTarget:
		var p RolloutOutcome
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		switch p.Outcome {
		case OutcomeApplied, OutcomeAtSet, OutcomeFailed, OutcomeRefused, OutcomeSkipped:
		default:
			return Change{}, invalid(e, "rollout %s: outcome %q", p.ID, p.Outcome)
		}
		if p.Target == "" {
			return Change{}, invalid(e, "rollout %s: an outcome without a target", p.ID)
		}
		id = p.ID
	case TypeRolloutHalted:
		var p RolloutHalted
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		id = p.ID
	case TypeRolloutInterrupted:
		var p RolloutInterrupted
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		id = p.ID
	case TypeRolloutResumed:
		var p RolloutResumed
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		id = p.ID
	case TypeRolloutFinished:
		var p RolloutFinished
		if err := decode(e, &p); err != nil {
			return Change{}, err
		}
		id = p.ID
	}
	if id == "" {
		return Change{}, invalid(e, "a rollout event without the rollout's id")
	}
	return Change{}, nil
}
