package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// The releases of one application and the migrations each ships.
var (
	r120 = []string{"0001_init", "0002_users", "0003_orders"}
	r123 = append(slices.Clone(r120), "0004_orders_index", "0005_users_email")
	r125 = append(slices.Clone(r123), "0006_invoices", "0007_invoice_lines", "0008_users_locale")
	r128 = append(slices.Clone(r125), "0009_drop_column")
)

func codes(v policy.Verdict) []policy.Code {
	var out []policy.Code
	for _, r := range v.Reasons {
		if !slices.Contains(out, r.Code) {
			out = append(out, r.Code)
		}
	}
	return out
}

func unknownIDs(v policy.Verdict) []string {
	var out []string
	for _, u := range v.Unknown {
		out = append(out, u.ID)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		binary   policy.Manifest
		policy   policy.Policy
		history  func(l *ledger)
		want     policy.Decision
		codes    []policy.Code
		pending  []string
		unknown  []string
		contains []string // in Message
	}{
		{
			name:    "fresh database, release 1.2.0: everything pending",
			binary:  ships("1.2.0", r120...),
			history: func(*ledger) {},
			want:    policy.Migrate, codes: []policy.Code{policy.CodePending}, pending: r120,
			contains: []string{"migrate: this binary (app version 1.2.0, policy strict) has 3 pending migrations", "pending: 0001_init", "to apply: apply the pending migrations"},
		},
		{
			name:     "release 1.2.0 after its own up",
			binary:   ships("1.2.0", r120...),
			history:  func(l *ledger) { l.up("1.2.0", "", r120...) },
			want:     policy.Run,
			contains: []string{"run: this binary (app version 1.2.0, policy strict) matches this database (3 migrations applied, none pending)"},
		},
		{
			name:    "1.2.3 on a database migrated by 1.2.0: its new migrations are pending",
			binary:  ships("1.2.3", r123...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...) },
			want:    policy.Migrate, codes: []policy.Code{policy.CodePending}, pending: []string{"0004_orders_index", "0005_users_email"},
		},
		{
			name:    "1.2.0 on a database migrated by 1.2.3 which added no migration: run, whatever the version numbers",
			binary:  ships("1.2.0", r120...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).up("1.2.3", "") },
			want:    policy.Run,
		},
		{
			name:    "1.2.5 on a database migrated by 1.2.8 which added 0009_drop_column: strict refuses",
			binary:  ships("1.2.5", r125...),
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", "", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeUnknown}, unknown: []string{"0009_drop_column"},
			contains: []string{"does not know 1 migration applied to this database", "0009_drop_column", "1.2.8", "roll the database back to 0008_users_locale with the down SQL recorded"},
		},
		{
			name:    "compatible: 0009 recorded >=1.2.0, satisfied by 1.2.5",
			binary:  ships("1.2.5", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0", "0009_drop_column") },
			want:    policy.Run, unknown: []string{"0009_drop_column"},
			contains: []string{"policy compatible allows the 1 migration it does not know"},
		},
		{
			name:    "compatible: 0009 recorded >=1.2.8, not satisfied by 1.2.5",
			binary:  ships("1.2.5", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.8", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0009_drop_column"},
			contains: []string{"and the policy refuses it", `compatible ">=1.2.8"`, "does not satisfy"},
		},
		{
			name:    "compatible: 0009 recorded no constraint",
			binary:  ships("1.2.5", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", "", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0009_drop_column"},
			contains: []string{"recorded no compatibility constraint"},
		},
		{
			name:    "compatible: 0009 recorded an invalid constraint",
			binary:  ships("1.2.5", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", "from 1.2 onwards", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0009_drop_column"},
			contains: []string{`constraint "from 1.2 onwards" is not valid`},
		},
		{
			name:   "compatible: one allowed, one refused",
			binary: ships("1.2.5", r125...),
			policy: policy.Compatible,
			history: func(l *ledger) {
				l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0 <2.0.0", "0009_drop_column").up("1.3.0", ">=1.3.0", "0010_orders_archive")
			},
			want: policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0009_drop_column", "0010_orders_archive"},
			contains: []string{"refuses 1 of them", "unknown: 0009_drop_column", ": allowed,", "unknown: 0010_orders_archive", ": refused,", "roll the database back to 0008_users_locale with the down SQL recorded"},
		},
		{
			name:    "same-major: 1.4.0 with unknown migrations applied by 1.6.0",
			binary:  ships("1.4.0", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("1.6.0", "", "0006_invoices", "0007_invoice_lines") },
			want:    policy.Run, unknown: []string{"0006_invoices", "0007_invoice_lines"},
		},
		{
			name:    "same-major: 1.4.0 with unknown migrations applied by 2.0.0",
			binary:  ships("1.4.0", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("2.0.0", "", "0006_invoices") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0006_invoices"},
			contains: []string{"(major 2)", "(major 1)"},
		},
		{
			name:    "same-major: v-prefixed versions compare by major",
			binary:  ships("v1.4.0", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("v1.4.0", "", r123...).up("v1.9.2", "", "0006_invoices") },
			want:    policy.Run, unknown: []string{"0006_invoices"},
		},
		{
			name:    "same-major: unknown migration with an unparseable recorded app version",
			binary:  ships("1.4.0", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("nightly", "", "0006_invoices") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0006_invoices"},
			contains: []string{`recorded app version "nightly" is not a semantic version`},
		},
		{
			name:    "same-major: unknown migration that recorded no app version",
			binary:  ships("1.4.0", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("", "", "0006_invoices") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeIncompatible}, unknown: []string{"0006_invoices"},
		},
		{
			name:    "strict refuses what same-major would allow",
			binary:  ships("1.4.0", r123...),
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("1.6.0", "", "0006_invoices") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeUnknown}, unknown: []string{"0006_invoices"},
		},
		{
			name:    "checksum mismatch: an applied file was edited",
			binary:  edited(ships("1.2.3", r123...), "0002_users"),
			history: func(l *ledger) { l.up("1.2.0", "", r120...) },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeChecksumMismatch}, pending: []string{"0004_orders_index", "0005_users_email"},
			contains: []string{"checksum mismatch: 0002_users", sum("0002_users")[:12], "never edit an applied migration"},
		},
		{
			name:    "in doubt: a known no-transaction migration started and never finished",
			binary:  ships("1.2.3", r123...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInDoubt}, pending: []string{"0005_users_email"},
			contains: []string{"in doubt: 0004_orders_index started at 2026-03-01T10:05:00Z by app version 1.2.3", "check what 0004_orders_index left in the database, then resume it from statement 1", "or record it as applied or as failed"},
		},
		{
			name:    "in doubt: an unknown migration is refused as well",
			binary:  ships("1.2.0", r120...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInDoubt},
		},
		{
			name:   "in doubt after a failure with statements done",
			binary: ships("1.2.3", r123...),
			history: func(l *ledger) {
				l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index").failed("1.2.3", "0004_orders_index", 2)
			},
			want: policy.Refuse, codes: []policy.Code{policy.CodeInDoubt}, pending: []string{"0005_users_email"},
			contains: []string{"failed after 2 statements"},
		},
		{
			name:   "in doubt resolved as failed: pending again",
			binary: ships("1.2.3", r123...),
			history: func(l *ledger) {
				l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index").resolve("0004_orders_index", projector.ResolvedFailed)
			},
			want: policy.Migrate, codes: []policy.Code{policy.CodePending}, pending: []string{"0004_orders_index", "0005_users_email"},
		},
		{
			name:   "in doubt resolved as applied: run",
			binary: ships("1.2.3", r123...),
			history: func(l *ledger) {
				l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index").resolve("0004_orders_index", projector.ResolvedApplied).up("1.2.3", "", "0005_users_email")
			},
			want: policy.Run,
		},
		{
			name:    "a failed transactional migration the binary knows is simply pending",
			binary:  ships("1.2.3", r123...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).failed("1.2.3", "0004_orders_index", 0) },
			want:    policy.Migrate, codes: []policy.Code{policy.CodePending}, pending: []string{"0004_orders_index", "0005_users_email"},
		},
		{
			name:    "a failed migration the binary does not know is not unknown",
			binary:  ships("1.2.0", r120...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).failed("1.2.3", "0004_orders_index", 0) },
			want:    policy.Run,
		},
		{
			name:    "out of order: a pending migration ordered before an applied one",
			binary:  ships("1.2.3", r123...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).up("1.2.3-hotfix.1", "", "0005_users_email") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeOutOfOrder}, pending: []string{"0004_orders_index"},
			contains: []string{"1 pending migration ordered before an applied one", "out of order: migration 0004_orders_index is pending but ordered before 0005_users_email"},
		},
		{
			name:    "out of order, explicitly allowed: migrate",
			binary:  ships("1.2.3", r123...),
			policy:  policy.Policy{Rule: policy.RuleStrict, AllowOutOfOrder: true},
			history: func(l *ledger) { l.up("1.2.0", "", r120...).up("1.2.3-hotfix.1", "", "0005_users_email") },
			want:    policy.Migrate, codes: []policy.Code{policy.CodePending}, pending: []string{"0004_orders_index"},
			contains: []string{"policy strict+out-of-order", "allowed by the policy"},
		},
		{
			name:    "out of order behind an unknown migration",
			binary:  ships("1.2.3", r123...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.0", "", r120...).up("1.2.8", ">=1.2.0", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeOutOfOrder}, pending: []string{"0004_orders_index", "0005_users_email"}, unknown: []string{"0009_drop_column"},
		},
		{
			name:   "reverted with the recorded down: the old release runs again",
			binary: ships("1.2.0", r120...),
			history: func(l *ledger) {
				l.up("1.2.0", "", r120...).up("1.2.3", "", "0004_orders_index", "0005_users_email").down("1.2.0", "0005_users_email", "0004_orders_index")
			},
			want: policy.Run,
		},
		{
			name:   "every reason at once, most important first",
			binary: edited(ships("1.2.5", r125...), "0001_init"),
			history: func(l *ledger) {
				l.up("1.2.0", "", r120...).up("1.2.8", "", "0009_drop_column").started("1.2.8", "0010_orders_archive")
			},
			want:    policy.Refuse,
			codes:   []policy.Code{policy.CodeChecksumMismatch, policy.CodeInDoubt, policy.CodeUnknown, policy.CodeOutOfOrder},
			pending: r125[3:], unknown: []string{"0009_drop_column"},
		},
		{
			name:    "invalid app version: refused, even with nothing unknown",
			binary:  ships("latest", r120...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...) },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput},
			contains: []string{`app version "latest"`, "MAJOR.MINOR.PATCH"},
		},
		{
			name:    "partial app version under compatible with an unknown migration",
			binary:  ships("1.2", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput}, unknown: []string{"0009_drop_column"},
			contains: []string{`app version "1.2" is not a semantic version`},
		},
		{
			name:    "no app version under compatible with an unknown migration",
			binary:  ships("", r125...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput}, unknown: []string{"0009_drop_column"},
			contains: []string{"app version none", "has no app version", "to fix: give this binary the app version of its release"},
		},
		{
			name:    "no app version under same-major with an unknown migration",
			binary:  ships("", r123...),
			policy:  policy.SameMajor,
			history: func(l *ledger) { l.up("1.4.0", "", r123...).up("1.6.0", "", "0006_invoices") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput}, unknown: []string{"0006_invoices"},
		},
		{
			name:    "no app version under compatible and nothing unknown: run",
			binary:  ships("", r120...),
			policy:  policy.Compatible,
			history: func(l *ledger) { l.up("1.2.0", "", r120...) },
			want:    policy.Run,
		},
		{
			name:    "no app version under strict: the unknown set decides",
			binary:  ships("", r120...),
			history: func(l *ledger) { l.up("1.2.0", "", r120...).up("1.2.3", "", "0004_orders_index") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeUnknown}, unknown: []string{"0004_orders_index"},
		},
		{
			name:    "duplicate id in the manifest",
			binary:  ships("1.2.0", "0001_init", "0002_users", "0002_users"),
			history: func(l *ledger) { l.up("1.2.0", "", "0001_init", "0002_users") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput},
			contains: []string{"0002_users appears more than once"},
		},
		{
			name:    "malformed id and empty checksum in the manifest",
			binary:  policy.Manifest{AppVersion: "1.2.0", Migrations: []policy.Known{{ID: "init", Checksum: sum("init")}, {ID: "0002_users"}}},
			history: func(*ledger) {},
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput}, pending: []string{"init", "0002_users"},
			contains: []string{`migration id "init"`, "0002_users in this binary's migration set has no checksum"},
		},
		{
			name:    "invalid rule",
			binary:  ships("1.2.5", r125...),
			policy:  policy.Policy{Rule: policy.Rule(9)},
			history: func(l *ledger) { l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0", "0009_drop_column") },
			want:    policy.Refuse, codes: []policy.Code{policy.CodeInvalidInput}, unknown: []string{"0009_drop_column"},
			contains: []string{"policy rule 9 is not one of strict, compatible, same-major"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t)
			tt.history(l)
			v := policy.Evaluate(tt.binary, l.state(), tt.policy)
			msg := v.Message()
			if v.Decision != tt.want {
				t.Errorf("decision %s, want %s\n%s", v.Decision, tt.want, msg)
			}
			if got := codes(v); !slices.Equal(got, tt.codes) {
				t.Errorf("reason codes %v, want %v\n%s", got, tt.codes, msg)
			}
			if !slices.Equal(v.Pending, tt.pending) {
				t.Errorf("pending %v, want %v", v.Pending, tt.pending)
			}
			if got := unknownIDs(v); !slices.Equal(got, tt.unknown) {
				t.Errorf("unknown %v, want %v", got, tt.unknown)
			}
			if !strings.HasPrefix(msg, v.Decision.String()+": ") {
				t.Errorf("message does not start with the decision:\n%s", msg)
			}
			if v.Decision == policy.Run && strings.Contains(msg, "\n") {
				t.Errorf("a run message is one line:\n%s", msg)
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q:\n%s", s, msg)
				}
			}
			if v.Policy != tt.policy.String() || v.AppVersion != tt.binary.AppVersion {
				t.Errorf("verdict names policy %q and app version %q, want %q and %q", v.Policy, v.AppVersion, tt.policy, tt.binary.AppVersion)
			}
		})
	}
}

// edited returns m with the file of id changed since it was applied.
func edited(m policy.Manifest, id string) policy.Manifest {
	m.Migrations = slices.Clone(m.Migrations)
	for i := range m.Migrations {
		if m.Migrations[i].ID == id {
			m.Migrations[i].Checksum = sum(id + " (edited)")
		}
	}
	return m
}
