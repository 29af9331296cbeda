package migrations

import (
	"fmt"
	"strings"

	"github.com/schema-ledger/ledger/internal/sqllex"
)

// Destructive is a statement that removes or reshapes what a running
// release may read or write: it drops or renames a table or column,
// changes a column's type, or makes a column NOT NULL without a default.
type Destructive struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Kind   string `json:"kind"`   // drop-table, drop-column, rename-table, rename-column, alter-type, not-null
	Object string `json:"object"` // "table users", "column users.legacy_flag"
	// What says it in words: "drops column users.legacy_flag".
	What string `json:"what"`
	// Why is what a release that knows the object may do with it.
	Why string `json:"why"`
}

// DestructiveStatements lists the destructive statements of a script, in
// order, found with the SQL lexer (never inside strings, comments or
// function bodies). A Go migration's function is not SQL: it has none.
func DestructiveStatements(sc *Script) []Destructive {
	var out []Destructive
	for _, st := range sc.Statements {
		lx, err := sqllex.Lex(st.Text)
		if err != nil {
			continue
		}
		var toks []sqllex.Token
		for _, t := range lx.Tokens {
			if t.Kind != sqllex.LineComment && t.Kind != sqllex.BlockComment {
				toks = append(toks, t)
			}
		}
		p := &stmtParser{src: st.Text, toks: toks}
		for _, d := range p.destructive() {
			d.File, d.Line = sc.File, st.Line+d.Line-1
			out = append(out, d)
		}
	}
	return out
}

// stmtParser walks one statement's tokens.
type stmtParser struct {
	src  string
	toks []sqllex.Token
	i    int
}

func (p *stmtParser) word(i int) string {
	if i < len(p.toks) && p.toks[i].Kind == sqllex.Word {
		return strings.ToUpper(p.src[p.toks[i].Start:p.toks[i].End])
	}
	return ""
}

func (p *stmtParser) at(words ...string) bool {
	for k, w := range words {
		if p.word(p.i+k) != w {
			return false
		}
	}
	return true
}

func (p *stmtParser) skip(words ...string) bool {
	if p.at(words...) {
		p.i += len(words)
		return true
	}
	return false
}

func (p *stmtParser) line() int {
	if p.i < len(p.toks) {
		return p.toks[p.i].Line
	}
	return 1
}

// ident reads one identifier: a bare word folded to lower case, or a
// quoted one as written.
func (p *stmtParser) ident() (string, bool) {
	if p.i >= len(p.toks) {
		return "", false
	}
	t := p.toks[p.i]
	switch t.Kind {
	case sqllex.Word:
		p.i++
		return strings.ToLower(p.src[t.Start:t.End]), true
	case sqllex.QuotedIdent:
		p.i++
		return strings.ReplaceAll(p.src[t.Start+1:t.End-1], `""`, `"`), true
	}
	return "", false
}

// name reads a qualified name: ident[.ident…].
func (p *stmtParser) name() (string, bool) {
	n, ok := p.ident()
	if !ok {
		return "", false
	}
	for p.i+1 < len(p.toks) && p.src[p.toks[p.i].Start:p.toks[p.i].End] == "." {
		p.i++
		part, ok := p.ident()
		if !ok {
			break
		}
		n += "." + part
	}
	return n, true
}

// isComma reports whether token i is a "," at the top level.
func (p *stmtParser) punct(i int, s string) bool {
	return i < len(p.toks) && p.toks[i].Kind == sqllex.Other && p.src[p.toks[i].Start:p.toks[i].End] == s
}

func (p *stmtParser) destructive() []Destructive {
	switch {
	case p.skip("DROP", "TABLE"):
		return p.dropTables()
	case p.skip("ALTER", "TABLE"):
		return p.alterTable()
	}
	return nil
}

func (p *stmtParser) dropTables() []Destructive {
	p.skip("IF", "EXISTS")
	var out []Destructive
	for {
		line := p.line()
		n, ok := p.name()
		if !ok {
			return out
		}
		out = append(out, Destructive{Line: line, Kind: "drop-table", Object: "table " + n, What: "drops table " + n, Why: "may read"})
		if !p.punct(p.i, ",") {
			return out
		}
		p.i++
	}
}

func (p *stmtParser) alterTable() []Destructive {
	p.skip("IF", "EXISTS")
	p.skip("ONLY")
	table, ok := p.name()
	if !ok {
		return nil
	}
	if p.punct(p.i, "*") {
		p.i++
	}
	var out []Destructive
	defaults := map[string]bool{} // columns given a default in this statement
	type notNull struct {
		col  string
		line int
	}
	var setNotNull []notNull
	for p.i < len(p.toks) {
		line := p.line()
		switch {
		case p.skip("DROP"):
			if p.at("CONSTRAINT") {
				break
			}
			p.skip("COLUMN")
			p.skip("IF", "EXISTS")
			if col, ok := p.ident(); ok {
				o := "column " + table + "." + col
				out = append(out, Destructive{Line: line, Kind: "drop-column", Object: o, What: "drops " + o, Why: "may read"})
			}
		case p.skip("RENAME"):
			switch {
			case p.skip("TO"):
				if to, ok := p.ident(); ok {
					out = append(out, Destructive{Line: line, Kind: "rename-table", Object: "table " + table,
						What: "renames table " + table + " to " + to, Why: "may still use by its old name"})
				}
			case p.at("CONSTRAINT"):
			default:
				p.skip("COLUMN")
				if col, ok := p.ident(); ok && p.skip("TO") {
					to, _ := p.ident()
					o := "column " + table + "." + col
					out = append(out, Destructive{Line: line, Kind: "rename-column", Object: o,
						What: "renames " + o + " to " + to, Why: "may still use by its old name"})
				}
			}
		case p.skip("SET", "SCHEMA"):
			if to, ok := p.ident(); ok {
				out = append(out, Destructive{Line: line, Kind: "rename-table", Object: "table " + table,
					What: "moves table " + table + " to schema " + to, Why: "may still use by its old name"})
			}
		case p.skip("ALTER"):
			p.skip("COLUMN")
			col, ok := p.ident()
			if !ok {
				break
			}
			o := "column " + table + "." + col
			switch {
			case p.skip("SET", "DATA", "TYPE"), p.skip("TYPE"):
				out = append(out, Destructive{Line: line, Kind: "alter-type", Object: o,
					What: "changes the type of " + o, Why: "may read or write as the old type"})
			case p.skip("SET", "NOT", "NULL"):
				setNotNull = append(setNotNull, notNull{col, line})
			case p.skip("SET", "DEFAULT"):
				defaults[col] = true
			}
		case p.skip("ADD"):
			if p.at("CONSTRAINT") || p.at("PRIMARY") || p.at("UNIQUE") || p.at("CHECK") || p.at("FOREIGN") || p.at("EXCLUDE") {
				break
			}
			p.skip("COLUMN")
			p.skip("IF", "NOT", "EXISTS")
			col, ok := p.ident()
			if !ok {
				break
			}
			// The column's definition, up to the next top-level comma.
			depth, nn, def := 0, false, false
			for j := p.i; j < len(p.toks); j++ {
				switch t := p.toks[j]; {
				case t.Kind == sqllex.OpenParen:
					depth++
				case t.Kind == sqllex.CloseParen:
					depth--
				case depth == 0 && p.punct(j, ","):
					j = len(p.toks)
				case depth == 0 && p.word(j) == "NOT" && p.word(j+1) == "NULL":
					nn = true
				case depth == 0 && (p.word(j) == "DEFAULT" || p.word(j) == "GENERATED" || p.word(j) == "SERIAL" || p.word(j) == "BIGSERIAL" || p.word(j) == "SMALLSERIAL"):
					def = true
				}
			}
			if nn && !def {
				o := "column " + table + "." + col
				out = append(out, Destructive{Line: line, Kind: "not-null", Object: o,
					What: "adds " + o + " NOT NULL without a default", Why: "do not write (their inserts would fail)"})
			}
		}
		// On to the next action: past the next top-level comma.
		depth := 0
		for ; p.i < len(p.toks); p.i++ {
			switch t := p.toks[p.i]; {
			case t.Kind == sqllex.OpenParen:
				depth++
			case t.Kind == sqllex.CloseParen:
				depth--
			case depth == 0 && p.punct(p.i, ","):
				p.i++
				goto next
			}
		}
	next:
	}
	for _, n := range setNotNull {
		if defaults[n.col] {
			continue
		}
		o := "column " + table + "." + n.col
		out = append(out, Destructive{Line: n.line, Kind: "not-null", Object: o,
			What: "makes " + o + " NOT NULL without setting a default", Why: "may leave it NULL (their inserts would fail)"})
	}
	return out
}

// Sentence is the finding in words, for a constraint: "drops column
// users.legacy_flag, which releases >=1.2.0 may read".
func (d Destructive) Sentence(constraint string) string {
	return fmt.Sprintf("%s, which releases %s %s", d.What, constraint, d.Why)
}
