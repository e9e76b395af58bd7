package event

import "strings"

// Sets of bytes, as bit masks: every byte the scanner looks for is below
// 64, so one comparison and one shift tell a byte of a name or a value
// apart from one that may end it.
const (
	spaceSet    uint64 = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'
	nameStopSet uint64 = spaceSet | 1<<'>' | 1<<'=' | 1<<'/' | 1<<'?'
	textSet     uint64 = 1<<'<' | 1<<'&' | 1<<'\r'
)

func inSet(set uint64, c byte) bool { return c < 64 && set>>c&1 != 0 }

// Eight bytes at a time (SWAR): word reads s[i:i+8] as one little-endian
// number, and hasByte(x, c) is non-zero when a byte of x equals c.
const (
	lowBits  uint64 = 0x0101010101010101
	highBits uint64 = 0x8080808080808080
)

func word(s string, i int) uint64 {
	b := s[i : i+8] // one bounds check; the compiler makes the rest one load
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func hasByte(x uint64, c byte) uint64 {
	x ^= lowBits * uint64(c)
	return (x - lowBits) &^ x & highBits
}

// hasLess is non-zero when a byte of x is below n (n <= 128).
func hasLess(x uint64, n byte) uint64 { return (x - lowBits*uint64(n)) &^ x & highBits }

// valueStop returns the first i' >= i where s holds the quote q, '&',
// tab, LF or CR, or len(s).
func valueStop(s string, i int, q byte) int {
	for ; i+8 <= len(s); i += 8 {
		if x := word(s, i); hasByte(x, q)|hasByte(x, '&')|hasLess(x, '\r'+1) != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		switch s[i] {
		case q, '&', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// textStop returns the first i' >= i where s holds '<', '&' or CR, or
// len(s).
func textStop(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if x := word(s, i); hasByte(x, '<')|hasByte(x, '&')|hasByte(x, '\r') != 0 {
			break
		}
	}
	for i < len(s) && !inSet(textSet, s[i]) {
		i++
	}
	return i
}

// scan reads the event's XML in one pass, without copying it: every name,
// value and piece of text is a range of r.raw, handed to the element logic
// in parse.go as it is met (which allocates only for values that need
// decoding and for RenderingInfo). It stops at the end of the
// Event element or of the input.
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
// input ends there. This is how tdewolff/parse's XML lexer, which wefgate
// used before, splits any input, so events parse as they always did: the
// element logic decides what counts as damage. System, EventData and
// RenderingInfo laid out exactly as the Event Log service renders them are
// read by literal comparison instead (system.go), with the same result.
func (r *run) scan() {
	s := r.raw
	i := 0
	for !r.eventClosed && i < len(s) {
		if s[i] != '<' {
			// Character data: its end, and whether anything in it needs
			// decoding (most values need none and are used as they are).
			start, plain := i, true
			if i = textStop(s, i); i < len(s) && s[i] != '<' {
				plain = false // '&' or CR: the rest is only searched for '<'
				if j := strings.IndexByte(s[i:], '<'); j >= 0 {
					i += j
				} else {
					i = len(s)
				}
			}
			r.addText(textSpan{start: start, end: i, plain: plain})
			continue
		}
		if i+1 < len(s) {
			switch s[i+1] {
			case '/':
				// An end tag: its name runs to the first '>', less trailing
				// white space; one cut by the end of input closes nothing.
				a, j := i+2, i+2
				if r.depth > 0 && r.overflow == 0 {
					// Nearly always it closes the innermost element, whose
					// name holds no '>' or white space: a match of that
					// name and '>' is the whole search.
					f := r.frames[r.depth-1]
					if end := a + f.nameEnd - f.nameStart; end < len(s) && s[end] == '>' && s[a:end] == s[f.nameStart:f.nameEnd] {
						r.endElement(r.depth-1, i)
						i = end + 1
						continue
					}
				}
				for j < len(s) && s[j] != '>' {
					j++
				}
				if j == len(s) {
					return
				}
				b := j
				for b > a && inSet(spaceSet, s[b-1]) {
					b--
				}
				r.endTag(s[a:b], i)
				i = j + 1
				continue
			case '!':
				switch rest := s[i+2:]; {
				case strings.HasPrefix(rest, "--"):
					i = until(s, i+4, "-->")
					continue
				case strings.HasPrefix(rest, "[CDATA["):
					a := i + len("<![CDATA[")
					j := strings.Index(s[a:], "]]>")
					if j < 0 {
						return // cut inside CDATA
					}
					b := a + j
					r.addText(textSpan{start: a, end: b, cdata: true, plain: strings.IndexByte(s[a:b], '\r') < 0})
					i = b + len("]]>")
					continue
				case strings.HasPrefix(rest, "DOCTYPE"):
					i = doctypeEnd(s, i+len("<!DOCTYPE"))
					continue
				}
			case '?':
				// A processing instruction: a tag whose attributes are
				// ignored.
				r.attrKind = kindOther
				i = r.tagRest(nameEnd(s, i+2, false))
				continue
			}
		}
		if strings.HasPrefix(s[i:], "<System>") {
			if end, ok := r.scanSystem(i); ok {
				i = end
				continue
			}
		} else if strings.HasPrefix(s[i:], "<EventData>") {
			if end, ok := r.scanEventData(i); ok {
				i = end
				continue
			}
		} else if strings.HasPrefix(s[i:], "<RenderingInfo") {
			if end, ok := r.scanRendering(i); ok {
				i = end
				continue
			}
		}
		b := nameEnd(s, i+1, false)
		r.startElement(i+1, b)
		i = r.tagRest(b)
	}
}

// tagRest reads the attributes and the end of the tag whose name ends at
// i, and returns where the tag ends (or the end of input).
func (r *run) tagRest(i int) int {
	s := r.raw
	for {
		for i < len(s) && inSet(spaceSet, s[i]) {
			i++
		}
		if i >= len(s) {
			return i
		}
		switch c := s[i]; c {
		case '>':
			r.attrKind = kindOther
			if r.top() == kindUserData {
				r.userDataStart = i + 1
			}
			return i + 1
		case '/', '?':
			if i+1 < len(s) && s[i+1] == '>' {
				if c == '/' {
					r.attrKind = kindOther
					switch {
					case r.overflow > 0:
						r.overflow--
					case r.depth > 0:
						r.endElement(r.depth-1, i+2)
					}
				}
				return i + 2
			}
		}
		// An attribute: a name, then '=' and a value, or no value.
		a := i
		b := nameEnd(s, i, true)
		j := b
		for j < len(s) && inSet(spaceSet, s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			i = b
			continue
		}
		for j++; j < len(s) && inSet(spaceSet, s[j]); j++ {
		}
		val := j
		plain := false // unquoted values are rare: the decoder looks
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			q := s[j]
			plain = true
			if j = valueStop(s, j+1, q); j < len(s) && s[j] != q {
				plain = false // '&', tab, LF or CR: the rest is only searched for q
				if k := strings.IndexByte(s[j:], q); k >= 0 {
					j += k
				} else {
					j = len(s)
				}
			}
			if j < len(s) {
				j++ // the closing quote
			}
		} else {
			j = nameEnd(s, j, false)
		}
		if r.attrKind != kindOther {
			r.attribute(s[a:b], val, j, plain)
		}
		i = j
	}
}

// nameEnd returns where a name (or an unquoted attribute value) starting
// at i ends: at white space, '>', "/>", "?>" or the end of input. stopAtEq
// makes '=' end it too, as it ends an attribute name.
func nameEnd(s string, i int, stopAtEq bool) int {
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

// until returns the end of the first sep at or after i, or the end of s.
func until(s string, i int, sep string) int {
	if j := strings.Index(s[i:], sep); j >= 0 {
		return i + j + len(sep)
	}
	return len(s)
}

// doctypeEnd returns the end of a DOCTYPE whose name starts at i: after
// the first '>' outside double quotes and outside an internal subset.
func doctypeEnd(s string, i int) int {
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
