package policy_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// newerRelease is scenario 4: 1.2.8, deployed from web-3 by release-bot,
// applied 0009_drop_column to a database 1.2.5 had migrated.
func newerRelease(t *testing.T, compatible string) projector.State {
	t.Helper()
	l := newLedger(t)
	l.up("1.2.5", "", r125...)
	l.host, l.actor = "web-3", "release-bot"
	l.at = time.Date(2026, 4, 2, 8, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	l.up("1.2.8", compatible, "0009_drop_column")
	return l.state()
}

func TestRefuseNamesTheUnknownMigration(t *testing.T) {
	s := newerRelease(t, "")
	v := policy.Evaluate(ships("1.2.5", r125...), s, policy.Strict)
	if v.Decision != policy.Refuse || v.Integrity() {
		t.Fatalf("decision %s (integrity %v), want a non-integrity refusal", v.Decision, v.Integrity())
	}
	want := []policy.Unknown{{
		ID: "0009_drop_column", AppliedAt: s.Applied["0009_drop_column"].AppliedAt, AppVersion: "1.2.8",
		Host: "web-3", Actor: "release-bot", Seq: s.Applied["0009_drop_column"].Seq,
		Why: "policy strict refuses every migration this binary does not know",
	}}
	if !reflect.DeepEqual(v.Unknown, want) {
		t.Errorf("unknown = %+v\nwant %+v", v.Unknown, want)
	}
	if v.RollbackTo != "0008_users_locale" {
		t.Errorf("rollback to %q, want 0008_users_locale", v.RollbackTo)
	}
	msg := v.Message()
	wantMsg := "refuse: this binary (app version 1.2.5, policy strict) does not know 1 migration applied to this database\n" +
		"  unknown: 0009_drop_column applied at 2026-04-02T06:30:00Z by app version 1.2.8 on host web-3 as release-bot: refused, policy strict refuses every migration this binary does not know\n" +
		"  to fix: deploy a release that ships these migrations, or roll the database back to 0008_users_locale with the down SQL recorded when they were applied (from this binary or the newer one)"
	if msg != wantMsg {
		t.Errorf("message:\n%s\nwant:\n%s", msg, wantMsg)
	}
}

func TestRollbackWhenNothingKnownIsApplied(t *testing.T) {
	l := newLedger(t)
	l.up("2.0.0", "", "0001_init", "0002_users")
	v := policy.Evaluate(ships("1.0.0", "0001_bootstrap"), l.state(), policy.Strict)
	var fix policy.Fix
	msg := v.MessageWith(func(f policy.Fix) string {
		if f.Action == policy.FixRollBack {
			fix = f
		}
		return "to fix: " + string(f.Action)
	})
	if v.RollbackTo != "" || fix.To != "" || fix.Steps != 2 || !strings.Contains(msg, "\n  to fix: roll-back\n") {
		t.Errorf("rollback to %q, fix %+v; message:\n%s", v.RollbackTo, fix, msg)
	}
	if !strings.Contains(v.Message(), "roll the database back to before the migrations this binary does not know") {
		t.Errorf("library message:\n%s", v.Message())
	}
}

// A missing app version the policy needs is a fix of its own, worded by the
// caller: the library's message names no flag or environment variable.
func TestNoAppVersionFix(t *testing.T) {
	l := newLedger(t)
	l.up("1.2.5", "", r125...).up("1.2.8", ">=1.2.0", "0009_drop_column")
	v := policy.Evaluate(ships("", r125...), l.state(), policy.Compatible)
	var fixes []policy.FixAction
	msg := v.MessageWith(func(f policy.Fix) string {
		fixes = append(fixes, f.Action)
		return "to fix: " + string(f.Action)
	})
	if !slices.Contains(fixes, policy.FixAppVersion) || !strings.Contains(msg, "has no app version, and policy compatible needs one") {
		t.Errorf("fixes %v; message:\n%s", fixes, msg)
	}
	if lib := v.Message(); strings.Contains(lib, "--") || strings.Contains(lib, "LEDGER_") {
		t.Errorf("the library's message names a flag or a variable:\n%s", lib)
	}
	// Given an app version, the same history asks for none.
	fixes = nil
	policy.Evaluate(ships("1.2.5", r125...), l.state(), policy.Compatible).MessageWith(func(f policy.Fix) string {
		fixes = append(fixes, f.Action)
		return ""
	})
	if slices.Contains(fixes, policy.FixAppVersion) {
		t.Errorf("fixes %v with an app version", fixes)
	}
}

func TestEvaluateZeroState(t *testing.T) {
	// A state not built by NewState (nil maps) is an empty database.
	v := policy.Evaluate(ships("1.2.0", r120...), projector.State{}, policy.Strict)
	if v.Decision != policy.Migrate || len(v.Pending) != 3 {
		t.Errorf("got %s with pending %v", v.Decision, v.Pending)
	}
	v = policy.Evaluate(policy.Manifest{}, projector.State{}, policy.Policy{})
	if v.Decision != policy.Run {
		t.Errorf("empty set on empty database: %s, want run", v.Decision)
	}
}

func TestManifestDigestMatchesLedger(t *testing.T) {
	l := newLedger(t)
	l.up("1.2.0", "", r120...).up("1.2.3", "", "0004_orders_index", "0005_users_email").down("1.2.3", "0005_users_email")
	if got, want := ships("1.2.3", r123[:4]...).Digest(), l.state().Digest; got != want {
		t.Errorf("manifest digest %s, ledger digest %s", got, want)
	}
	if ships("1.2.3", r123...).Digest() == l.state().Digest {
		t.Error("a manifest with a pending migration has the ledger's digest")
	}
	if !(policy.Manifest{}).Digest().IsZero() {
		t.Error("empty manifest digest is not zero")
	}
}

func TestParse(t *testing.T) {
	for _, p := range []policy.Policy{policy.Strict, policy.Compatible, policy.SameMajor, {Rule: policy.RuleSameMajor, AllowOutOfOrder: true}} {
		got, err := policy.Parse(p.String())
		if err != nil || got != p {
			t.Errorf("Parse(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	if policy.Strict.String() != "strict" || policy.Compatible.String() != "compatible" || policy.SameMajor.String() != "same-major" {
		t.Error("policy names changed")
	}
	if (policy.Policy{}) != policy.Strict {
		t.Error("the zero policy is not strict")
	}
	for _, bad := range []string{"", "Strict", "lenient", "same_major", "+out-of-order"} {
		_, err := policy.Parse(bad)
		if !errors.Is(err, policy.ErrUnknownPolicy) || !strings.Contains(err.Error(), "strict, compatible, same-major") {
			t.Errorf("Parse(%q) error %v: want ErrUnknownPolicy listing the valid names", bad, err)
		}
	}
}

func TestParseAppVersion(t *testing.T) {
	for in, want := range map[string]string{"1.2.0": "1.2.0", "v1.2.0": "1.2.0", "1.3.0-rc.1": "1.3.0-rc.1", "2.0.0+build.7": "2.0.0+build.7"} {
		v, err := policy.ParseAppVersion(in)
		if err != nil || v.String() != want {
			t.Errorf("ParseAppVersion(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	for _, bad := range []string{"", "1.2", "latest", "v", "1.2.0.1", "01.2.0", "vv1.2.0", " 1.2.0"} {
		_, err := policy.ParseAppVersion(bad)
		if !errors.Is(err, policy.ErrInvalidAppVersion) {
			t.Errorf("ParseAppVersion(%q) error %v, want ErrInvalidAppVersion", bad, err)
		}
	}
}

func TestDecisionText(t *testing.T) {
	for d, name := range map[policy.Decision]string{policy.Run: "run", policy.Migrate: "migrate", policy.Refuse: "refuse"} {
		b, err := d.MarshalText()
		if err != nil || string(b) != name || d.String() != name {
			t.Errorf("%d: %q, %v", int(d), b, err)
		}
		var back policy.Decision
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Errorf("UnmarshalText(%q) = %v, %v", b, back, err)
		}
	}
	var zero policy.Decision
	if _, err := zero.MarshalText(); err == nil {
		t.Error("the zero decision encodes")
	}
	if err := zero.UnmarshalText([]byte("allow")); err == nil {
		t.Error(`"allow" decodes`)
	}
	if zero == policy.Run {
		t.Error("the zero decision is run")
	}
}

func TestVerdictJSON(t *testing.T) {
	l := newLedger(t)
	l.up("1.2.0", "", r120...).up("1.2.8", ">=1.3.0", "0009_drop_column").started("1.2.8", "0010_orders_archive")
	v := policy.Evaluate(edited(ships("1.2.5", r125...), "0002_users"), l.state(), policy.Compatible)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["decision"] != "refuse" || raw["policy"] != "compatible" || raw["app_version"] != "1.2.5" {
		t.Errorf("json: %s", b)
	}
	for _, key := range []string{"pending", "unknown", "mismatched", "in_doubt", "out_of_order", "reasons", "rollback_to"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("json lacks %q: %s", key, b)
		}
	}
	u := raw["unknown"].([]any)[0].(map[string]any)
	for _, key := range []string{"id", "applied_at", "app_version", "host", "actor", "compatible", "seq", "allowed", "why"} {
		if _, ok := u[key]; !ok {
			t.Errorf("unknown entry lacks %q: %v", key, u)
		}
	}
	var back policy.Verdict
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, v)
	}
	if back.Message() != v.Message() {
		t.Errorf("message after round trip differs")
	}
}

func TestIntegrity(t *testing.T) {
	l := newLedger(t)
	l.up("1.2.0", "", r120...)
	s := l.state()
	tests := []struct {
		name string
		v    policy.Verdict
		want bool
	}{
		{"run", policy.Evaluate(ships("1.2.0", r120...), s, policy.Strict), false},
		{"migrate", policy.Evaluate(ships("1.2.3", r123...), s, policy.Strict), false},
		{"unknown", policy.Evaluate(ships("1.1.0", r120[:2]...), s, policy.Strict), false},
		{"invalid input", policy.Evaluate(ships("latest", r120...), s, policy.Strict), false},
		{"checksum mismatch", policy.Evaluate(edited(ships("1.2.0", r120...), "0003_orders"), s, policy.Strict), true},
		{"checksum mismatch and unknown", policy.Evaluate(edited(ships("1.1.0", r120[:2]...), "0001_init"), s, policy.Strict), true},
		{"in doubt", policy.Evaluate(ships("1.2.3", r123...), newLedgerWith(t, func(l *ledger) { l.up("1.2.0", "", r120...).started("1.2.3", "0004_orders_index") }), policy.Strict), true},
		{"unverifiable", policy.Unverifiable(ships("1.2.0", r120...), policy.Strict, errors.New("head seq 7 does not match newest event seq 8")), true},
		{"zero verdict", policy.Verdict{}, false},
	}
	for _, tt := range tests {
		if got := tt.v.Integrity(); got != tt.want {
			t.Errorf("%s: Integrity() = %v, want %v (%v)", tt.name, got, tt.want, tt.v.Reasons)
		}
	}
}

func newLedgerWith(t *testing.T, history func(*ledger)) projector.State {
	t.Helper()
	l := newLedger(t)
	history(l)
	return l.state()
}

func TestUnverifiable(t *testing.T) {
	cause := errors.New("ledger format 3 is newer than format 1 that this binary understands")
	v := policy.Unverifiable(ships("1.2.0", r120...), policy.SameMajor, cause)
	if v.Decision != policy.Refuse || len(v.Reasons) != 1 || v.Reasons[0].Code != policy.CodeUnverifiable {
		t.Fatalf("verdict %+v", v)
	}
	if v.Policy != "same-major" || v.AppVersion != "1.2.0" {
		t.Errorf("verdict names policy %q, app version %q", v.Policy, v.AppVersion)
	}
	msg := v.Message()
	for _, s := range []string{"refuse: this binary (app version 1.2.0, policy same-major) cannot verify the ledger", cause.Error(), "to fix: verify the ledger to see what is wrong"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	if v := policy.Unverifiable(policy.Manifest{}, policy.Strict, nil); v.Decision != policy.Refuse || !v.Integrity() {
		t.Errorf("nil error: %+v", v)
	}
}

func TestZeroVerdictMessageRefuses(t *testing.T) {
	if msg := (policy.Verdict{}).Message(); !strings.Contains(msg, "refuse") {
		t.Errorf("zero verdict message %q does not refuse", msg)
	}
}
