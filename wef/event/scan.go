package event

import "strings"

// Sets of bytes, as bit masks: every byte the scanner looks for is below
// 64, so one comparison and one shift tell a byte of a name or a value
// apart from one that may end it.
const (
	spaceSet    uint64 = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'
	nameStopSet uint64 = spaceSet | 1<<'>' | 1<<'=' | 1<<'/' | 1<<'?'
	textSet     uint64 = 1<<'<' | 1<<'&' | 1<<'\r'
	attrValSet  uint64 = spaceSet | 1<<'"' | 1<<'\'' | 1<<'&'
)

func inSet(set uint64, c byte) bool { return c < 64 && set>>c&1 != 0 }

// scan reads the event's XML in one pass, without copying or allocating:
// every name, value and piece of text is a range of r.raw, handed to the
// element logic in parse.go as it is met. It stops at the end of the
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
// element logic decides what counts as damage.
func (r *run) scan() {
	s := r.raw
	i := 0
	for !r.eventClosed && i < len(s) {
		if s[i] != '<' {
			// Character data. Values are short: one pass finds the end and
			// whether anything needs decoding.
			start, plain := i, true
			for ; i < len(s); i++ {
				if c := s[i]; inSet(textSet, c) {
					if c == '<' {
						break
					}
					plain = false // '&' or CR
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
			for j++; j < len(s); j++ {
				if c := s[j]; inSet(attrValSet, c) {
					if c == q {
						j++
						break
					}
					if c != '"' && c != '\'' && c != ' ' {
						plain = false // '&', tab, CR or LF
					}
				}
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
