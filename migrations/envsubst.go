package migrations

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// goose's "-- +goose ENVSUBST ON": the lines up to "-- +goose ENVSUBST OFF"
// have environment variables expanded, line by line, with the grammar of
// the library goose v3 uses (github.com/mfridman/interpolate, POSIX
// parameter expansion):
//
//	$NAME, ${NAME}        the value; "" if unset
//	${NAME:-word}         word if unset or empty
//	${NAME-word}          word if unset
//	${NAME:off[:len]}     a substring (negative: from the end)
//	${NAME?word}          an error saying word if unset
//	$$ and \$             a literal $ (so a dollar quote is written $$$$)
//	\\ and $(             themselves
//
// A name starts with a letter; "$1" is an error, as in goose. A "$" at
// the end of a line stays.

// expandEnv expands one line (with its line ending, kept as is).
func expandEnv(line string, env func(string) (string, bool)) (string, error) {
	body := strings.TrimRight(line, "\r\n")
	p := &envParser{s: body, env: env}
	out, err := p.expr("", true)
	if err != nil {
		return "", err
	}
	return out + line[len(body):], nil
}

type envParser struct {
	s   string
	i   int
	env func(string) (string, bool)
}

func (p *envParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// expr expands text up to a byte of stop (not consumed) or the end. With
// eval false it only parses (a default that is not used is not evaluated).
func (p *envParser) expr(stop string, eval bool) (string, error) {
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if stop != "" && strings.IndexByte(stop, c) >= 0 {
			break
		}
		rest := p.s[p.i:]
		switch {
		case strings.HasPrefix(rest, `\\`), strings.HasPrefix(rest, "$("):
			b.WriteString(rest[:2])
			p.i += 2
			continue
		case strings.HasPrefix(rest, `\$`), strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			p.i += 2
			continue
		case c == '$' && p.i < len(p.s)-1:
			v, err := p.expansion(eval)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			continue
		}
		b.WriteByte(c)
		p.i++
	}
	return b.String(), nil
}

func (p *envParser) lookup(name string, eval bool) (string, bool) {
	if !eval || p.env == nil {
		return "", false
	}
	return p.env(name)
}

func (p *envParser) expansion(eval bool) (string, error) {
	p.i++ // $
	if p.peek() != '{' {
		name, err := p.ident()
		if err != nil {
			return "", err
		}
		v, _ := p.lookup(name, eval)
		return v, nil
	}
	p.i++ // {
	name, err := p.ident()
	if err != nil {
		return "", err
	}
	var val string
	switch op := p.peek(); {
	case op == '}':
		val, _ = p.lookup(name, eval)
	case op == ':' && strings.HasPrefix(p.s[p.i:], ":-"), op == '-':
		emptyToo := op == ':'
		p.i += map[bool]int{true: 2, false: 1}[emptyToo]
		v, set := p.lookup(name, eval)
		useDefault := !set || (emptyToo && v == "")
		d, err := p.expr("}", eval && useDefault)
		if err != nil {
			return "", err
		}
		val = v
		if useDefault {
			val = d
		}
	case op == ':':
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ':' && p.s[p.i] != '}' {
			p.i++
		}
		off, err := strconv.Atoi(strings.TrimSpace(p.s[start:p.i]))
		if err != nil {
			return "", fmt.Errorf("${%s:%s}: the offset is not a number", name, p.s[start:p.i])
		}
		length, hasLength := 0, false
		if p.peek() == ':' {
			p.i++
			start = p.i
			for p.i < len(p.s) && p.s[p.i] != '}' {
				p.i++
			}
			if length, err = strconv.Atoi(strings.TrimSpace(p.s[start:p.i])); err != nil {
				return "", fmt.Errorf("${%s:%d:%s}: the length is not a number", name, off, p.s[start:p.i])
			}
			hasLength = true
		}
		v, _ := p.lookup(name, eval)
		val = substring(v, off, length, hasLength)
	case op == '?':
		p.i++
		_, set := p.lookup(name, eval)
		msg, err := p.expr("}", eval && !set)
		if err != nil {
			return "", err
		}
		if eval && !set {
			if msg == "" {
				msg = "not set"
			}
			return "", fmt.Errorf("$%s: %s", name, msg)
		}
		val, _ = p.lookup(name, eval)
	default:
		r, _ := utf8.DecodeRuneInString(p.s[p.i:])
		if p.i >= len(p.s) {
			return "", fmt.Errorf("${%s is not closed with }", name)
		}
		return "", fmt.Errorf("${%s%c…}: expected }, :-, -, :, or ? after the name", name, r)
	}
	if p.peek() != '}' {
		return "", fmt.Errorf("${%s… is not closed with }", name)
	}
	p.i++
	return val, nil
}

// ident reads a variable name: a letter, then letters, digits and _.
func (p *envParser) ident() (string, error) {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	if p.i >= len(p.s) || !unicode.IsLetter(r) {
		return "", fmt.Errorf("a variable name must start with a letter, found %q after $ at column %d", string(r), p.i)
	}
	start := p.i
	for p.i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		if r == utf8.RuneError || (!unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '_') {
			break
		}
		p.i += size
	}
	return p.s[start:p.i], nil
}

func substring(v string, off, length int, hasLength bool) string {
	from := off
	if from < 0 {
		from += len(v)
	}
	from = min(max(from, 0), len(v))
	if !hasLength {
		return v[from:]
	}
	to := length
	if to >= 0 {
		to += from
	} else {
		to = max(to+len(v), from)
	}
	return v[from:min(to, len(v))]
}
