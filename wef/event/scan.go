package event

import "strings"

// token is what the scanner found at its position.
type token uint8

const (
	tokEnd       token = iota // end of input
	tokStartTag               // "<" and a name
	tokPI                     // "<?" and a target
	tokAttr                   // an attribute inside a tag, with or without "=value"
	tokClose                  // ">" ending a start tag or a processing instruction
	tokCloseVoid              // "/>"
	tokClosePI                // "?>"
	tokEndTag                 // "</name>", or "</name" cut by the end of input
	tokText                   // character data up to the next '<'
	tokCDATA                  // "<![CDATA[...]]>", or cut by the end of input
	tokComment                // "<!--...-->", or cut by the end of input
	tokDoctype                // "<!DOCTYPE ...>", or cut by the end of input
)

// scanner splits one event's XML into tokens without copying or
// allocating: every token is a range of s.
//
// It accepts the subset of XML 1.0 (§2.4–2.8, §3.1) that Windows writes for
// an event rendered by the Event Log service: start, end and empty-element
// tags, attributes quoted with ' or " (§3.1 AttValue), character data,
// CDATA sections, comments, processing instructions and a DOCTYPE, which is
// skipped as a whole (no internal subset is interpreted and no entity it
// declares is known). It checks no well-formedness constraint: names are
// whatever runs up to white space, '>', "/>" or "?>"; an attribute without
// '=' or with an unquoted value is read as it stands; a '<' that starts
// nothing else opens a tag ("<!x" is a tag named "!x"); NUL and other
// characters XML forbids are ordinary bytes; a construct cut by the end of
// input ends there. The tokens are those of tdewolff/parse's XML lexer,
// which wefgate used before, so events parse as they always did: the
// parser above it decides what damage means.
type scanner struct {
	s     string
	pos   int  // where the next token starts
	inTag bool // between a start tag's name and its '>'

	// The last token: start is its first byte and pos its end.
	start int
	// a and b delimit the name of a tag or attribute (an end tag's without
	// trailing white space), or the content of text and CDATA.
	a, b int
	// val is where an attribute's value starts (its quote included), or
	// -1 when the attribute has no '='; the value ends at pos.
	val int
	// closed reports that an end tag ended with '>' or a CDATA section
	// with "]]>" rather than with the input.
	closed bool
	// plain reports that text, CDATA or a quoted attribute value holds
	// nothing to decode or normalise: no '&' (but in CDATA) and no CR, and
	// in an attribute value no tab or line feed either.
	plain bool
}

// Sets of bytes, as bit masks: every byte the scanner looks for is below
// 64, so one shift and test tells a byte of a name or a value apart from
// one that may end it.
const (
	spaceSet    uint64 = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'
	nameStopSet uint64 = spaceSet | 1<<'>' | 1<<'=' | 1<<'/' | 1<<'?'
	textSet     uint64 = 1<<'<' | 1<<'&' | 1<<'\r'
	attrValSet  uint64 = spaceSet | 1<<'"' | 1<<'\'' | 1<<'&'
)

func inSet(set uint64, c byte) bool { return c < 64 && set>>c&1 != 0 }

func isSpace(c byte) bool { return inSet(spaceSet, c) }

// nameEnd returns where a name (or an unquoted attribute value) starting
// at i ends: at white space, '>', "/>", "?>" or the end of input. stopAtEq
// makes '=' end it too, as it ends an attribute name.
func (z *scanner) nameEnd(i int, stopAtEq bool) int {
	s := z.s
	for ; i < len(s); i++ {
		c := s[i]
		if !inSet(nameStopSet, c) {
			continue
		}
		switch c {
		case '=':
			if stopAtEq {
				return i
			}
		case '/', '?':
			if i+1 < len(s) && s[i+1] == '>' {
				return i
			}
		default: // white space, '>'
			return i
		}
	}
	return i
}

func (z *scanner) skipSpace(i int) int {
	for i < len(z.s) && isSpace(z.s[i]) {
		i++
	}
	return i
}

// next scans the token at pos.
func (z *scanner) next() token {
	if z.inTag {
		return z.nextInTag()
	}
	s, i := z.s, z.pos
	z.start = i
	if i >= len(s) {
		return tokEnd
	}
	if s[i] != '<' {
		// Values are short: one pass finds the end and what needs decoding.
		z.a, z.plain = i, true
		for ; i < len(s); i++ {
			if c := s[i]; inSet(textSet, c) {
				if c == '<' {
					break
				}
				z.plain = false // '&' or CR
			}
		}
		z.b, z.pos = i, i
		return tokText
	}
	if i+1 < len(s) {
		switch s[i+1] {
		case '/':
			return z.endTag(i + 2)
		case '!':
			switch rest := s[i+2:]; {
			case strings.HasPrefix(rest, "--"):
				z.pos, _ = z.until(i+4, "-->")
				return tokComment
			case strings.HasPrefix(rest, "[CDATA["):
				z.a = i + 9
				z.pos, z.closed = z.until(z.a, "]]>")
				z.b = z.pos
				if z.closed {
					z.b -= len("]]>")
				}
				z.plain = strings.IndexByte(s[z.a:z.b], '\r') < 0
				return tokCDATA
			case strings.HasPrefix(rest, "DOCTYPE"):
				z.pos = z.doctypeEnd(i + 9)
				return tokDoctype
			}
		case '?':
			z.inTag = true
			z.a = i + 2
			z.b = z.nameEnd(z.a, false)
			z.pos = z.b
			return tokPI
		}
	}
	z.inTag = true
	z.a = i + 1
	z.b = z.nameEnd(z.a, false)
	z.pos = z.b
	return tokStartTag
}

// until returns the end of the first sep at or after i (and true), or the
// end of input.
func (z *scanner) until(i int, sep string) (int, bool) {
	if j := strings.Index(z.s[i:], sep); j >= 0 {
		return i + j + len(sep), true
	}
	return len(z.s), false
}

func (z *scanner) endTag(i int) token {
	s := z.s
	z.a = i
	j := strings.IndexByte(s[i:], '>')
	if j < 0 {
		z.b, z.pos, z.closed = len(s), len(s), false
	} else {
		z.b, z.pos, z.closed = i+j, i+j+1, true
	}
	for z.b > z.a && isSpace(s[z.b-1]) {
		z.b--
	}
	return tokEndTag
}

// doctypeEnd returns the end of a DOCTYPE whose name starts at i: the
// first '>' outside double quotes and outside an internal subset.
func (z *scanner) doctypeEnd(i int) int {
	s := z.s
	inString, inBrackets := false, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inString = !inString
		case (c == '[' || c == ']') && !inString:
			inBrackets = c == '['
		case c == '>' && !inString && !inBrackets:
			return i + 1
		}
	}
	return i
}

func (z *scanner) nextInTag() token {
	s := z.s
	i := z.skipSpace(z.pos)
	z.start = i
	if i >= len(s) {
		z.pos = i
		return tokEnd
	}
	switch s[i] {
	case '>':
		z.inTag = false
		z.pos = i + 1
		return tokClose
	case '/', '?':
		if i+1 < len(s) && s[i+1] == '>' {
			z.inTag = false
			z.pos = i + 2
			if s[i] == '/' {
				return tokCloseVoid
			}
			return tokClosePI
		}
	}
	z.a = i
	z.b = z.nameEnd(i, true)
	j := z.skipSpace(z.b)
	if j >= len(s) || s[j] != '=' {
		z.val, z.pos = -1, z.b
		return tokAttr
	}
	j = z.skipSpace(j + 1)
	z.val = j
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		q := s[j]
		z.plain = true
		for j++; j < len(s); j++ {
			if c := s[j]; inSet(attrValSet, c) {
				if c == q {
					j++
					break
				}
				if c != '"' && c != '\'' && c != ' ' {
					z.plain = false // '&', tab, CR or LF
				}
			}
		}
		z.pos = j
		return tokAttr
	}
	z.pos = z.nameEnd(j, false)
	z.plain = false // rare: let the decoder look
	return tokAttr
}
