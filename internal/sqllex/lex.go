package sqllex

import (
	"fmt"
	"strings"
	"unsafe"
)

// Statement is one SQL statement of a file.
type Statement struct {
	// Text is the statement without its terminating ";", starting at its
	// first token (leading whitespace and comments dropped) and trimmed of
	// trailing whitespace.
	Text string
	// Line is the 1-based line of the file where the statement starts.
	Line int
	// Offset is the byte offset in the file where the statement starts.
	Offset int
}

// Error is a file the lexer cannot tokenize: an unterminated string,
// identifier, comment or dollar quote, opened on Line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Split splits SQL text into statements on top-level semicolons, the way psql
// does: it understands -- and nested /* */ comments, '…' strings (a quote doubled),
// E'…' strings (backslash escapes), "…" identifiers, $$…$$ and $tag$…$tag$
// dollar quotes, semicolons inside parentheses (CREATE RULE … (a; b)) and
// inside the BEGIN ATOMIC … END body of CREATE FUNCTION/PROCEDURE. Statements
// that are empty or hold only comments are dropped. An unterminated string,
// identifier, comment or dollar quote is an *Error.
func Split(sql string) ([]Statement, error) {
	lx, err := Lex(sql)
	if err != nil {
		return nil, err
	}
	raw := SplitTokens(sql, lx.Tokens)
	out := make([]Statement, len(raw))
	for i, r := range raw {
		out[i] = Statement{Text: sql[r.Start:r.End], Line: r.Line, Offset: r.Start}
	}
	return out, nil
}

type Kind uint8

const (
	Word         Kind = iota // identifier or key word (may hold $ after the first character)
	Number                   // numeric literal
	String                   // '…', E'…'
	QuotedIdent              // "…"
	DollarQuoted             // $tag$…$tag$
	Param                    // $1
	LineComment              // -- … (without the newline)
	BlockComment             // /* … */
	Semicolon
	OpenParen
	CloseParen
	Other // any other single byte: operators, punctuation, a backslash
)

type Token struct {
	Kind       Kind
	Start, End int // byte offsets in the source
	Line       int // 1-based line of the first byte
}

func (t Token) isComment() bool { return t.Kind == LineComment || t.Kind == BlockComment }

// lexed is the token stream of a file plus what the loader needs beyond it.
type Lexed struct {
	Tokens []Token
	// metaLines are lines whose first non-blank character is a top-level
	// backslash: psql meta-commands (\connect, \set, \i …).
	MetaLines []int
}

// pgSpace is the whitespace of PostgreSQL's lexer. Other Unicode spaces are
// identifier characters to PostgreSQL and must not be trimmed.
const Space = " \t\n\r\f\v"

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isDollarTagCont: dollar-quote tags hold identifier characters but no $.
func isDollarTagCont(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isIdentCont(c byte) bool { return isDollarTagCont(c) || c == '$' }

// lex tokenizes src. Tokens are decided left to right without looking back,
// so lexing a substring that starts at a token boundary yields the same tokens.
func Lex(src string) (*Lexed, error) {
	// About one token per four bytes of SQL (DDL: 4.4): one allocation, not a
	// doubling series of them, for a big file.
	lx := &Lexed{Tokens: make([]Token, 0, len(src)/4+16)}
	line := 1
	n := len(src)
	for pos := 0; pos < n; {
		c := src[pos]
		var next byte
		if pos+1 < n {
			next = src[pos+1]
		}
		start := pos
		kind := Other
		switch {
		case c == '\n':
			line++
			pos++
			continue
		case isSpace(c):
			pos++
			continue
		case c == '-' && next == '-':
			kind = LineComment
			if i := strings.IndexByte(src[pos:], '\n'); i >= 0 {
				pos += i
			} else {
				pos = n
			}
		case c == '/' && next == '*':
			kind = BlockComment
			depth := 0
			for pos < n {
				if pos+1 < n && src[pos] == '/' && src[pos+1] == '*' {
					depth++
					pos += 2
				} else if pos+1 < n && src[pos] == '*' && src[pos+1] == '/' {
					depth--
					pos += 2
					if depth == 0 {
						break
					}
				} else {
					pos++
				}
			}
			if depth != 0 {
				return lx, &Error{Line: line, Msg: "unterminated /* comment: it is never closed with */ (comments nest in PostgreSQL, so every /* needs its own */)"}
			}
		case c == '\'':
			kind = String
			end, ok := scanString(src, pos+1, false)
			if !ok {
				return lx, &Error{Line: line, Msg: "unterminated string literal: the ' opened here is never closed (write a quote inside a string as '')"}
			}
			pos = end
		case (c == 'E' || c == 'e') && next == '\'':
			kind = String
			end, ok := scanString(src, pos+2, true)
			if !ok {
				return lx, &Error{Line: line, Msg: `unterminated E'…' string literal: the quote opened here is never closed (in E'…' strings a backslash escapes the next character, so \' does not close it)`}
			}
			pos = end
		case c == '"':
			kind = QuotedIdent
			end, ok := scanQuotedIdent(src, pos+1)
			if !ok {
				return lx, &Error{Line: line, Msg: `unterminated quoted identifier: the " opened here is never closed (write a quote inside an identifier as "")`}
			}
			pos = end
		case c == '$':
			k, end, err := scanDollar(src, pos)
			if err != nil {
				err.Line = line
				return lx, err
			}
			kind, pos = k, end
		case isIdentStart(c):
			kind = Word
			pos++
			for pos < n && isIdentCont(src[pos]) {
				pos++
			}
		case isDigit(c):
			kind = Number
			pos++
			for pos < n && (isDollarTagCont(src[pos]) || src[pos] == '.') {
				pos++
			}
		case c == ';':
			kind = Semicolon
			pos++
		case c == '(':
			kind = OpenParen
			pos++
		case c == ')':
			kind = CloseParen
			pos++
		default:
			if c == '\\' && atLineStart(src, pos) {
				lx.MetaLines = append(lx.MetaLines, line)
			}
			pos++
		}
		lx.Tokens = append(lx.Tokens, Token{Kind: kind, Start: start, End: pos, Line: line})
		if kind != LineComment {
			line += strings.Count(src[start:pos], "\n")
		}
	}
	return lx, nil
}

// atLineStart reports whether only blanks precede pos on its line.
func atLineStart(src string, pos int) bool {
	for i := pos - 1; i >= 0; i-- {
		if src[i] == '\n' {
			return true
		}
		if !isSpace(src[i]) {
			return false
		}
	}
	return true
}

// scanString scans the body of a quoted string from i (after the opening
// quote) and returns the offset after the closing quote.
func scanString(src string, i int, backslashEscapes bool) (int, bool) {
	for i < len(src) {
		switch src[i] {
		case '\\':
			if backslashEscapes {
				i += 2
				continue
			}
		case '\'':
			if i+1 < len(src) && src[i+1] == '\'' {
				i += 2
				continue
			}
			return i + 1, true
		}
		i++
	}
	return 0, false
}

func scanQuotedIdent(src string, i int) (int, bool) {
	for i < len(src) {
		if src[i] == '"' {
			if i+1 < len(src) && src[i+1] == '"' {
				i += 2
				continue
			}
			return i + 1, true
		}
		i++
	}
	return 0, false
}

// scanDollar scans from a $ at pos: a parameter ($1), a dollar-quoted string
// ($$…$$, $tag$…$tag$) or a lone $.
func scanDollar(src string, pos int) (Kind, int, *Error) {
	n := len(src)
	j := pos + 1
	if j < n && isDigit(src[j]) {
		for j < n && isDigit(src[j]) {
			j++
		}
		return Param, j, nil
	}
	if j < n && (src[j] == '$' || isIdentStart(src[j])) {
		k := j
		for k < n && isDollarTagCont(src[k]) {
			k++
		}
		if k < n && src[k] == '$' {
			delim := src[pos : k+1]
			i := strings.Index(src[k+1:], delim)
			if i < 0 {
				return 0, 0, &Error{Msg: fmt.Sprintf("unterminated dollar-quoted string: the %s opened here is never closed by a matching %s", delim, delim)}
			}
			return DollarQuoted, k + 1 + i + len(delim), nil
		}
	}
	return Other, pos + 1, nil
}

// rawStatement is a statement with its position in the source.
type Raw struct {
	Start, End int // the statement's text: src[start:end]
	After      int // offset after the terminating ";" (len(src) if none)
	Line       int
	Tokens     []Token // the statement's tokens, comments left out
}

// SplitTokens groups tokens into statements. Like psql, it does not end a
// statement at a ";" inside parentheses or inside the BEGIN … END body of a
// CREATE [OR REPLACE] FUNCTION|PROCEDURE (SQL-standard function bodies).
// It reuses toks' array for the statements' tokens (a big file's tokens are
// its largest allocation): toks must not be used after it.
func SplitTokens(src string, toks []Token) []Raw {
	var (
		out        []Raw
		cur        Raw
		started    bool
		parens     int
		begins     int
		identCount int
		idents     [4]byte
		from       int // where cur's tokens start in all
	)
	// Every statement's tokens are a window of one array, in order: toks'
	// own, the comments filtered out in place (a token is written at or
	// before the place it is read from).
	all := toks[:0]
	for _, t := range toks {
		if t.isComment() {
			if started {
				cur.End = t.End
			}
			continue
		}
		if t.Kind == Semicolon && parens == 0 && begins == 0 {
			if started {
				cur.After = t.End
				cur.Tokens = all[from:len(all):len(all)]
				out = append(out, cur.trimmed(src))
			}
			cur, started, identCount, idents = Raw{}, false, 0, [4]byte{}
			continue
		}
		if !started {
			started = true
			cur.Start, cur.Line = t.Start, t.Line
			from = len(all)
		}
		cur.End = t.End
		all = append(all, t)
		switch t.Kind {
		case OpenParen:
			parens++
		case CloseParen:
			if parens > 0 {
				parens--
			}
		case Word:
			// psql's heuristic (psqlscan.l): track BEGIN/CASE … END only in
			// a statement that starts CREATE [OR REPLACE] FUNCTION|PROCEDURE.
			inRoutine := idents[0] == 'c' && (idents[1] == 'f' || idents[1] == 'p' ||
				idents[1] == 'o' && idents[2] == 'r' && (idents[3] == 'f' || idents[3] == 'p')) && parens == 0
			if identCount >= len(idents) && !inRoutine {
				identCount++
				continue // the word cannot matter: lower-case it not
			}
			w := src[t.Start:t.End]
			if identCount < len(idents) {
				for _, k := range [...]string{"create", "function", "procedure", "or", "replace"} {
					if strings.EqualFold(w, k) {
						idents[identCount] = k[0]
						break
					}
				}
			}
			identCount++
			if idents[0] == 'c' && (idents[1] == 'f' || idents[1] == 'p' ||
				idents[1] == 'o' && idents[2] == 'r' && (idents[3] == 'f' || idents[3] == 'p')) && parens == 0 {
				switch {
				case strings.EqualFold(w, "begin"):
					begins++
				case strings.EqualFold(w, "case"):
					if begins > 0 {
						begins++
					}
				case strings.EqualFold(w, "end"):
					if begins > 0 {
						begins--
					}
				}
			}
		}
	}
	if started {
		cur.After = len(src)
		cur.Tokens = all[from:len(all):len(all)]
		out = append(out, cur.trimmed(src))
	}
	return out
}

// trimmed drops trailing whitespace, which a final line comment may hold.
func (r Raw) trimmed(src string) Raw {
	for r.End > r.Start && isSpace(src[r.End-1]) {
		r.End--
	}
	return r
}

// words returns a statement's tokens normalised for matching: key words and
// identifiers upper-cased, everything else (quoted identifiers with their
// quotes, strings, operators) as written, so only bare words match key words.
func Words(src string, toks []Token) []string {
	w := make([]string, len(toks))
	if len(toks) == 0 {
		return w
	}
	// One upper-cased copy of the statement's ASCII letters, sliced per
	// word, instead of one allocation per word; a word with other than
	// ASCII in it is upper-cased on its own, as strings.ToUpper does.
	lo, hi := toks[0].Start, toks[len(toks)-1].End
	up := []byte(src[lo:hi])
	for i, c := range up {
		if 'a' <= c && c <= 'z' {
			up[i] = c - 'a' + 'A'
		}
	}
	upper := unsafe.String(&up[0], len(up)) // up is not written again
	for i, t := range toks {
		w[i] = src[t.Start:t.End]
		if t.Kind == Word {
			if isASCII(w[i]) {
				w[i] = upper[t.Start-lo : t.End-lo]
			} else {
				w[i] = strings.ToUpper(w[i])
			}
		}
	}
	return w
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func At(w []string, i int) string {
	if i < len(w) {
		return w[i]
	}
	return ""
}

func Contains(w []string, s string) bool {
	for _, x := range w {
		if x == s {
			return true
		}
	}
	return false
}

// txKind classifies transaction control statements.
type TxKind uint8

const (
	TxNone        TxKind = iota
	TxBeginPlain         // BEGIN, BEGIN WORK|TRANSACTION, START TRANSACTION
	TxBeginOpts          // BEGIN/START TRANSACTION with options
	TxCommitPlain        // COMMIT|END [WORK|TRANSACTION]
	TxCommitOther        // COMMIT AND [NO] CHAIN …
	TxRollback           // ROLLBACK, ABORT
	TxPrepare            // PREPARE TRANSACTION
	TxPrepared           // COMMIT PREPARED, ROLLBACK PREPARED
	TxSavepoint          // SAVEPOINT, RELEASE, ROLLBACK TO: fine inside a transaction
)

func ClassifyTx(w []string) TxKind {
	plainTail := len(w) == 1 || len(w) == 2 && (w[1] == "WORK" || w[1] == "TRANSACTION")
	switch At(w, 0) {
	case "BEGIN":
		if plainTail {
			return TxBeginPlain
		}
		return TxBeginOpts
	case "START":
		if At(w, 1) == "TRANSACTION" {
			if len(w) == 2 {
				return TxBeginPlain
			}
			return TxBeginOpts
		}
	case "COMMIT", "END":
		if w[0] == "COMMIT" && At(w, 1) == "PREPARED" {
			return TxPrepared
		}
		if plainTail {
			return TxCommitPlain
		}
		return TxCommitOther
	case "ROLLBACK", "ABORT":
		if w[0] == "ROLLBACK" && At(w, 1) == "PREPARED" {
			return TxPrepared
		}
		if At(w, 1) == "TO" || At(w, 2) == "TO" {
			return TxSavepoint
		}
		return TxRollback
	case "PREPARE":
		if At(w, 1) == "TRANSACTION" {
			return TxPrepare
		}
	case "SAVEPOINT", "RELEASE":
		return TxSavepoint
	}
	return TxNone
}

// copyFromClient reports whether the statement is COPY … FROM STDIN, which
// waits for rows from the client.
func CopyFromClient(w []string) bool {
	if At(w, 0) != "COPY" {
		return false
	}
	for i := range w {
		if w[i] == "FROM" && At(w, i+1) == "STDIN" {
			return true
		}
	}
	return false
}

// outsideTxOnly names the statement if PostgreSQL refuses to run it inside a
// transaction block ("… cannot run inside a transaction block"), else "".
func OutsideTxOnly(w []string) string {
	switch At(w, 0) {
	case "CREATE":
		i := 1
		unique := At(w, 1) == "UNIQUE"
		if unique {
			i++
		}
		if At(w, i) == "INDEX" && At(w, i+1) == "CONCURRENTLY" {
			if unique {
				return "CREATE UNIQUE INDEX CONCURRENTLY"
			}
			return "CREATE INDEX CONCURRENTLY"
		}
		switch At(w, 1) {
		case "DATABASE", "TABLESPACE", "SUBSCRIPTION":
			return "CREATE " + w[1]
		}
	case "DROP":
		switch At(w, 1) {
		case "INDEX":
			if At(w, 2) == "CONCURRENTLY" {
				return "DROP INDEX CONCURRENTLY"
			}
		case "DATABASE", "TABLESPACE", "SUBSCRIPTION":
			return "DROP " + w[1]
		}
	case "REINDEX":
		if Contains(w, "CONCURRENTLY") {
			return "REINDEX … CONCURRENTLY"
		}
		i := 1
		if At(w, 1) == "(" { // REINDEX (options) …
			for i < len(w) && w[i] != ")" {
				i++
			}
			i++
		}
		switch At(w, i) {
		case "SCHEMA", "DATABASE", "SYSTEM":
			return "REINDEX " + w[i]
		}
	case "VACUUM":
		return "VACUUM"
	case "ALTER":
		switch At(w, 1) {
		case "SYSTEM":
			return "ALTER SYSTEM"
		case "TABLE":
			for i := 2; i+1 < len(w); i++ {
				if w[i] == "DETACH" && w[i+1] == "PARTITION" && Contains(w[i+2:], "CONCURRENTLY") {
					return "ALTER TABLE … DETACH PARTITION … CONCURRENTLY"
				}
			}
		case "DATABASE":
			for i := 2; i+1 < len(w); i++ {
				if w[i] == "SET" && w[i+1] == "TABLESPACE" {
					return "ALTER DATABASE … SET TABLESPACE"
				}
			}
		}
	case "DISCARD":
		if At(w, 1) == "ALL" {
			return "DISCARD ALL"
		}
	}
	return ""
}
