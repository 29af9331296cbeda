package projector_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// The one JSON shape of an event: EncodeEvent keeps the payload's bytes,
// writes hashes as hex, and DecodeEvent and json.Unmarshal read it back.
func TestEventJSONRoundTrip(t *testing.T) {
	ev := projector.Event{
		Seq: 7, ID: "01930000-0000-7000-8000-000000000107", Type: projector.TypeMigrationApplied, PayloadVersion: 1,
		Payload:    json.RawMessage(`{"id": "0001_a", "checksum": "aa"}`),
		RecordedAt: time.Date(2026, 12, 6, 15, 0, 0, 123456000, time.UTC), Actor: "deploy", Host: "h", AppVersion: "1.2.0",
		PrevHash: bytes.Repeat([]byte{1}, 32), Hash: bytes.Repeat([]byte{2}, 32),
		State: &projector.Committed{Format: 4, InDoubt: 1, SchemaVersion: "0001_a"},
	}
	data, err := projector.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"payload":{"id": "0001_a", "checksum": "aa"}`)) || !bytes.Contains(data, []byte(`"hash":"0202`)) {
		t.Errorf("payload bytes or hex hash not kept: %s", data)
	}
	for name, decode := range map[string]func([]byte) (projector.Event, error){
		"DecodeEvent":    projector.DecodeEvent,
		"json.Unmarshal": func(b []byte) (e projector.Event, err error) { err = json.Unmarshal(b, &e); return e, err },
	} {
		got, err := decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := projector.EncodeEvent(got)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("%s: re-encoded differs:\n got %s\nwant %s", name, again, data)
		}
	}
	if _, err := projector.DecodeEvent([]byte(`{"seq":1,"hash":"zz"}`)); err == nil {
		t.Error("a hash that is not hex was read")
	}
}
