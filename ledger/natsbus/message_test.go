package natsbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/projector"
)

func TestDefaultNamesAreValidSubjectTokensAndStreamNames(t *testing.T) {
	for _, tc := range []struct{ db, schema, name string }{
		{"app", "ledger", "app_ledger"},
		{"my.app", "ledger", "my_app_ledger"},
		{"Shop DB*>", "billing", "Shop_DB___billing"},
		{"café/x", "l", "caf__x_l"},
	} {
		got := natsbus.DefaultName(tc.db, tc.schema)
		if got != tc.name {
			t.Errorf("DefaultName(%q, %q) = %q, want %q", tc.db, tc.schema, got, tc.name)
		}
		n := natsbus.NamesFor(got)
		if err := n.Validate(); err != nil {
			t.Errorf("NamesFor(%q): %v", got, err)
		}
		if want := "ledger." + tc.name + ".events.migration.applied"; n.Subject(projector.TypeMigrationApplied) != want {
			t.Errorf("subject %q, want %q", n.Subject(projector.TypeMigrationApplied), want)
		}
	}
	for _, bad := range []natsbus.Names{
		{Stream: "", Prefix: "ledger.x"},
		{Stream: "a.b", Prefix: "ledger.x"},
		{Stream: "S", Prefix: ""},
		{Stream: "S", Prefix: "ledger..x"},
		{Stream: "S", Prefix: "ledger.*"},
		{Stream: "S", Prefix: "ledger.x."},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	if got := natsbus.RedactURL("nats://alice:s3cret@host:4222,nats://h2:4222"); strings.Contains(got, "s3cret") || !strings.Contains(got, "alice") {
		t.Errorf("RedactURL: %s", got)
	}
}

// The message carries the stored event exactly: decoding gives it back,
// the payload byte for byte as jsonb renders it, so its hash can be
// recomputed from the message alone; headers that disagree with the body
// are refused.
func TestMessageRoundTripKeepsTheEventExactly(t *testing.T) {
	st, pool, _ := newLedger(t, 2)
	appendTx(t, st, pool, newEvent(t, projector.TypeMigrationFailed, projector.Failed{
		ID: "0007_<orders> & \"items\"", Checksum: "c", Error: "relation \"x\" does not exist — é\n\ttab", Attempt: 2,
	}))
	ev, err := st.Event(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	names := natsbus.NamesFor("app_ledger")
	m, err := natsbus.Encode(names, ev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "ledger.app_ledger.events.migration.failed" {
		t.Errorf("subject %s", m.Subject)
	}
	if m.Header.Get(jetstream.MsgIDHeader) != ev.ID || m.Header.Get(natsbus.HeaderSeq) != "2" || m.Header.Get(natsbus.HeaderType) != ev.Type {
		t.Errorf("headers %v", m.Header)
	}
	got, err := natsbus.DecodeMsg(m.Subject, m.Header, m.Data, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload, ev.Payload) {
		t.Errorf("payload changed:\n got %s\nwant %s", got.Payload, ev.Payload)
	}
	if !bytes.Equal(ledger.EventHash(got.PrevHash, got, string(got.Payload)), ev.Hash) {
		t.Errorf("the hash recomputed from the message is not the event's")
	}
	got.Payload, ev.Payload = nil, nil
	if a, b := jsonOf(t, got), jsonOf(t, ev); a != b {
		t.Errorf("decoded event differs:\n got %s\nwant %s", a, b)
	}
	// The body has the fields of history --json.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "id", "type", "payload_version", "payload", "recorded_at", "actor", "host", "app_version", "hash", "prev_hash"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("body has no %q: %s", k, m.Data)
		}
	}

	if _, err := natsbus.DecodeMsg(m.Subject, m.Header, m.Data, 3); !errors.Is(err, natsbus.ErrMalformedMessage) {
		t.Errorf("stream seq 3 for event 2: %v", err)
	}
	m.Header.Set(natsbus.HeaderHash, strings.Repeat("0", 64))
	if _, err := natsbus.DecodeMsg(m.Subject, m.Header, m.Data, 2); !errors.Is(err, natsbus.ErrMalformedMessage) || !strings.Contains(err.Error(), "header Ledger-Hash") {
		t.Errorf("tampered header: %v", err)
	}
	if _, err := natsbus.DecodeEvent([]byte(`{"seq":1}`)); !errors.Is(err, natsbus.ErrMalformedMessage) {
		t.Errorf("partial body: %v", err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
