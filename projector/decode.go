package projector

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"sync"
	"unicode/utf8"
)

// decode unmarshals a payload strictly: unknown fields are an error, since a
// field this binary does not know may change what the event means.
//
// Most payloads are a flat object of strings, integers and booleans, every
// key a field's exact name: decodeFlat reads those directly (verify folds a
// million of them), and hands anything else — a nested value, an escape, a
// null, a key in another case, an unknown key, bad JSON — to
// encoding/json, whose result and error it is. decodeFlat never takes a
// payload encoding/json would read differently (FuzzDecodeFlat).
func decode(e Event, v any) error {
	if decodeFlat(e.Payload, v) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(e.Payload))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return invalid(e, "payload: %v", err)
	}
	return nil
}

// flatField is a field decodeFlat can set, by its JSON name.
type flatField struct {
	index int
	kind  reflect.Kind // String, Bool or Int*; Invalid: a field only encoding/json reads
	bits  int          // of an Int*
}

// flatFields maps a struct type to its fields by JSON name; nil when the
// type is not one decodeFlat reads at all.
var flatFields sync.Map // reflect.Type -> map[string]flatField

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func customDecoding(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || p.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler)
}

// fieldsOf is t's table: every exported field with a plain name — none
// embedded, none sharing a name, no decoding of its own — or nil.
func fieldsOf(t reflect.Type) map[string]flatField {
	if f, ok := flatFields.Load(t); ok {
		return f.(map[string]flatField)
	}
	fields := map[string]flatField{}
	if customDecoding(t) {
		fields = nil
	}
	for i := 0; fields != nil && i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Anonymous {
			fields = nil
			break
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := cutComma(tag)
		if name == "" {
			name = sf.Name
		}
		if _, dup := fields[name]; dup {
			fields = nil
			break
		}
		f := flatField{index: i}
		switch k := sf.Type.Kind(); {
		case opts != "" && opts != "omitempty", customDecoding(sf.Type):
		case k == reflect.String, k == reflect.Bool:
			f.kind = k
		case k >= reflect.Int && k <= reflect.Int64:
			f.kind, f.bits = k, sf.Type.Bits()
		}
		fields[name] = f
	}
	flatFields.Store(t, fields)
	return fields
}

func cutComma(tag string) (name, opts string, found bool) {
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			return tag[:i], tag[i+1:], true
		}
	}
	return tag, "", false
}

// decodeFlat decodes data into v (a pointer to a zero struct, as every
// decode's is) when data is one flat JSON object decodeFlat reads exactly
// as encoding/json with DisallowUnknownFields would, and reports whether
// it did; otherwise v is left zero.
func decodeFlat(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct || !rv.Elem().IsZero() {
		return false
	}
	if !decodeFlatInto(data, rv.Elem()) {
		rv.Elem().SetZero()
		return false
	}
	return true
}

func decodeFlatInto(data []byte, out reflect.Value) bool {
	fields := fieldsOf(out.Type())
	if fields == nil {
		return false
	}
	p := flatParser{data: data}
	p.space()
	if !p.byte('{') {
		return false
	}
	p.space()
	if !p.byte('}') {
		for {
			p.space()
			key, ok := p.str()
			if !ok {
				return false
			}
			f, known := fields[string(key)]
			if !known {
				return false
			}
			p.space()
			if !p.byte(':') {
				return false
			}
			p.space()
			if !p.value(out.Field(f.index), f) {
				return false
			}
			p.space()
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return false
			}
		}
	}
	p.space()
	return p.i == len(data)
}

type flatParser struct {
	data []byte
	i    int
	buf  []byte // an unescaped string
}

func (p *flatParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *flatParser) byte(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string in valid UTF-8 without control characters, whose
// escapes are the two-character ones (\" \\ \/ \b \f \n \r \t: the
// ones PostgreSQL writes, but for control characters): those encoding/json
// reads as decodeFlat does. Unescaped, it is in p.buf.
func (p *flatParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	ascii, escaped := true, false
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			s := p.data[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			if escaped {
				return p.unescape(s), true
			}
			return s, true
		case c == '\\':
			if p.i+1 == len(p.data) || unescapes[p.data[p.i+1]] == 0 {
				return nil, false // \u, or not JSON
			}
			escaped = true
			p.i++
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// unescapes maps the character after a backslash to what it stands for.
var unescapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (p *flatParser) unescape(s []byte) []byte {
	b := p.buf[:0]
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			b = append(b, unescapes[s[i]])
			continue
		}
		b = append(b, s[i])
	}
	p.buf = b
	return b
}

// delimited reports whether the token just read ends where JSON lets it.
func (p *flatParser) delimited() bool {
	if p.i == len(p.data) {
		return true
	}
	switch p.data[p.i] {
	case ' ', '\t', '\n', '\r', ',', '}':
		return true
	}
	return false
}

func (p *flatParser) literal(s string) bool {
	if bytes.HasPrefix(p.data[p.i:], []byte(s)) {
		p.i += len(s)
		return p.delimited()
	}
	return false
}

func (p *flatParser) value(dst reflect.Value, f flatField) bool {
	switch f.kind {
	case reflect.String:
		s, ok := p.str()
		if ok {
			dst.SetString(string(s))
		}
		return ok
	case reflect.Bool:
		switch {
		case p.literal("true"):
			dst.SetBool(true)
			return true
		case p.literal("false"):
			dst.SetBool(false)
			return true
		}
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// JSON's integers: -?(0|[1-9][0-9]*), no fraction, no exponent.
		start := p.i
		p.byte('-')
		digits := p.i
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
		}
		if p.i == digits || p.data[digits] == '0' && p.i-digits > 1 || !p.delimited() {
			return false
		}
		n, ok := parseInt(p.data[start:p.i], f.bits)
		if ok {
			dst.SetInt(n)
		}
		return ok
	}
	return false
}

// parseInt parses a JSON integer that fits in bits, as encoding/json
// (strconv.ParseInt) would; not ok when it does not fit.
func parseInt(b []byte, bits int) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 18 { // may not fit in an int64: leave it to encoding/json
		return 0, false
	}
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if lim := int64(1) << (bits - 1); bits < 64 && (n < -lim || n > lim-1) {
		return 0, false
	}
	return n, true
}
