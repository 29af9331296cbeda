package natsbus

import (
	"fmt"
	"net/url"
	"strings"
)

// Names are where one ledger's events live in NATS: its stream and the
// subject prefix its subjects start with. Events go to
// <Prefix>.events.<type>; the stream holds <Prefix>.events.>. Watchers may
// use <Prefix>.alerts.<kind> beside them.
type Names struct {
	Stream string // JetStream stream name, e.g. LEDGER_app_ledger
	Prefix string // subject prefix, e.g. ledger.app_ledger
}

// DefaultName is the name of the ledger of schema in database: the two
// joined by "_", with every character a NATS subject token or stream name
// cannot hold replaced by "_" (Sanitize). "app" and "ledger" give
// "app_ledger".
func DefaultName(database, schema string) string {
	return Sanitize(database + "_" + schema)
}

// Sanitize keeps letters, digits, '_' and '-' and replaces anything else
// ('.', '*', '>', spaces, slashes, other runes) with '_', so the result is
// one subject token and a valid stream name.
func Sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// NamesFor gives the default stream and subject prefix of a ledger name:
// stream LEDGER_<name>, prefix ledger.<name>. The name is sanitized first.
func NamesFor(name string) Names {
	name = Sanitize(name)
	return Names{Stream: "LEDGER_" + name, Prefix: "ledger." + name}
}

// Subject is the subject an event of type typ is published on.
func (n Names) Subject(typ string) string { return n.Prefix + ".events." + typ }

// EventsFilter is the subject filter of every event of this ledger (the
// stream's subject, and what a consumer of all events filters on).
func (n Names) EventsFilter() string { return n.Prefix + ".events.>" }

// AlertSubject is the subject alerts of the given kind are published on.
func (n Names) AlertSubject(kind string) string { return n.Prefix + ".alerts." + kind }

// Validate checks the stream name and the prefix are usable.
func (n Names) Validate() error {
	if n.Stream == "" {
		return fmt.Errorf("stream name is empty")
	}
	if i := strings.IndexAny(n.Stream, ".*> \t\r\n/\\"); i >= 0 {
		return fmt.Errorf("stream name %q: character %q at %d is not allowed in a stream name", n.Stream, n.Stream[i], i)
	}
	if n.Prefix == "" {
		return fmt.Errorf("subject prefix is empty")
	}
	for i, tok := range strings.Split(n.Prefix, ".") {
		if tok == "" {
			return fmt.Errorf("subject prefix %q: token %d is empty (no leading, trailing or double dots)", n.Prefix, i+1)
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("subject prefix %q: token %q: wildcards and spaces are not allowed", n.Prefix, tok)
		}
	}
	return nil
}

// RedactURL shows a NATS server URL (or a comma-separated list of them)
// with any password replaced by "xxxxx", for logs and errors.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				p = u.Redacted()
			}
		} else if err != nil && strings.Contains(p, "@") {
			p = "(unparseable URL)"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
