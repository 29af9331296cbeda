package projector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// payloadTypes are the payloads decode reads, one zero value each.
var payloadTypes = []any{
	Initialized{}, Upgraded{}, Applied{}, Reverted{}, Failed{}, Started{}, Resolved{}, Progressed{},
	Baselined{}, Fingerprinted{}, Drifted{}, DriftAccepted{}, Changed{}, Accepted{}, LeftoverDropped{},
	RolloutStarted{}, RolloutOutcome{}, RolloutHalted{}, RolloutInterrupted{}, RolloutResumed{}, RolloutFinished{},
}

// strictDecode is what decode did before decodeFlat, and still does for
// what decodeFlat leaves.
func strictDecode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// agree checks, for every payload type, that decodeFlat either declines
// data or decodes it exactly as encoding/json does; it returns how many
// types decodeFlat took it for.
func agree(t testing.TB, data []byte) (took int) {
	t.Helper()
	for _, z := range payloadTypes {
		typ := reflect.TypeOf(z)
		flat, ref := reflect.New(typ), reflect.New(typ)
		if !decodeFlat(data, flat.Interface()) {
			if !reflect.DeepEqual(flat.Elem().Interface(), z) {
				t.Fatalf("%s: decodeFlat declined %q but changed the value: %+v", typ.Name(), data, flat.Elem().Interface())
			}
			continue
		}
		took++
		if err := strictDecode(data, ref.Interface()); err != nil {
			t.Fatalf("%s: decodeFlat took %q, encoding/json refuses it: %v", typ.Name(), data, err)
		}
		if !reflect.DeepEqual(flat.Elem().Interface(), ref.Elem().Interface()) {
			t.Fatalf("%s: %q: decodeFlat gives %+v, encoding/json %+v", typ.Name(), data, flat.Elem().Interface(), ref.Elem().Interface())
		}
	}
	return took
}

var flatSeeds = []string{
	// As PostgreSQL renders jsonb (bench/seed's churn and a set's applies).
	`{"id": "999999_bench_churn", "checksum": "churn-999999_bench_churn", "duration_ms": 0, "transactional": true}`,
	`{"id": "999999_bench_churn", "source": "file", "duration_ms": 0}`,
	`{"id": "000001_t", "checksum": "4779f4229dbbbc2b4a12eafaa0df8409f35588e6d826b952f0d5cebb7e776969", "down_sql": "DROP TABLE t_000001;\n", "duration_ms": 0, "down_checksum": "6aea53872b97174f776973b882315eaff4943e9d4b95510b40f351dbc1aec728", "transactional": true}`,
	`{"id": "0001_a", "checksum": "c", "down_sql": "DROP TABLE t_000001;", "duration_ms": 12, "transactional": false}`,
	`{"format": 4, "schema": "ledger"}`,
	`{"from": 1, "to": 2}`,
	`{"objects": 22, "fingerprint": "4df510b46610bb38f677e1d1b91656fafe31d531765c208d879f1e20737f47ee"}`,
	`{"id": "0002_b", "error": "boom", "attempt": 1, "checksum": "x", "sqlstate": "42P01", "direction": "up", "statement": "SELECT 1", "statements_done": 0}`,
	`{"id": "0003_c", "checksum": "x", "direction": "up"}`,
	`{"id": "0003_c", "statements_done": 2}`,
	`{"id": "0003_c", "reason": "done by hand", "decision": "applied"}`,
	// What decodeFlat must leave to encoding/json, or read the same.
	`{}`, ` { } `, `{"id":"0001_a"}`, `{"ID": "0001_a"}`, `{"id": "0001_a", "unknown": 1}`,
	`{"id": "0001_a",}`, `{"id": "0001_a"`, `{"id": "0001_a"} trailing`, `{"id": "0001_a"}{}`,
	`{"id": null}`, `{"id": 7}`, `{"id": "a\"b"}`, `{"id": "a\u00e9"}`, `{"id": "\u00e9t\u00e9"}`, `{"id": "été"}`,
	"{\"id\": \"\xff\"}", "{\"id\": \"a\tb\"}", `{"duration_ms": 01}`, `{"duration_ms": -0}`, `{"duration_ms": 1.0}`,
	`{"duration_ms": 1e3}`, `{"duration_ms": 9223372036854775807}`, `{"duration_ms": 9223372036854775808}`,
	`{"duration_ms": -9223372036854775808}`, `{"duration_ms": 123456789012345678}`, `{"duration_ms": "1"}`,
	`{"transactional": truex}`, `{"transactional": tru}`, `{"transactional": false }`, `{"transactional": 1}`,
	`{"adopted": {"from": "goose"}, "id": "0001_a"}`, `{"allowed_breaking": [], "id": "0001_a"}`,
	`{"id": "0001_a", "id": "0002_b"}`, `{"format": 2147483648}`, `{"attempt": -1}`, `[]`, `null`, ``, `"x"`,
	"{\"id\"\n:\r\"0001_a\"\t}", `{"statements_done": 2147483647}`, `{"statements_done": 99999999999}`,
}

func TestDecodeFlatAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range flatSeeds {
		agree(t, []byte(s))
	}
	// Every payload of the golden event files, too.
	files, _ := filepath.Glob("testdata/*.events.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var events []Event
		if err := json.Unmarshal(data, &events); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range events {
			agree(t, e.Payload)
		}
	}
	// The payloads a ledger holds millions of are read flat.
	for _, c := range []struct {
		payload string
		into    any
	}{
		{flatSeeds[0], &Applied{}}, {flatSeeds[1], &Reverted{}}, {flatSeeds[2], &Applied{}},
		{flatSeeds[7], &Failed{}}, {flatSeeds[8], &Started{}}, {flatSeeds[9], &Progressed{}},
	} {
		if !decodeFlat([]byte(c.payload), c.into) {
			t.Errorf("decodeFlat declined %s into %T", c.payload, c.into)
		}
	}
}

// decode's errors are encoding/json's, whatever decodeFlat declined.
func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ payload, want string }{
		{`{"id": "0001_a", "unknown": 1}`, `json: unknown field "unknown"`},
		{`{"id": 7}`, `json: cannot unmarshal number into Go struct field Applied.id of type string`},
		{`{"duration_ms": 1.5}`, `json: cannot unmarshal number 1.5 into Go struct field Applied.duration_ms of type int64`},
	} {
		var p Applied
		err := decode(Event{Seq: 3, Type: TypeMigrationApplied, Payload: json.RawMessage(c.payload)}, &p)
		if err == nil || err.Error() != "invalid event: seq 3 (migration.applied): payload: "+c.want {
			t.Errorf("%s: got %v, want ... payload: %s", c.payload, err, c.want)
		}
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, s := range flatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}
