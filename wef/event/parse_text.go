package event

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// maxReferenceLen bounds how far past '&' a reference's ';' is looked for,
// which keeps decoding linear on inputs full of stray ampersands. The
// longest valid reference is "&#x10FFFF;" or "&#1114111;" (10 bytes).
const maxReferenceLen = 10

// decoded returns character data or an attribute value with XML references
// resolved and line ends normalised (XML 1.0 §2.11, §3.3.3). Input that
// needs no change is returned as is, sharing memory with s.
func decoded(s string, attr bool) string {
	if !needsDecoding(s, attr) {
		return s
	}
	// Decoding never makes text longer: every reference is at least as
	// long as the UTF-8 it stands for.
	return ownString(appendDecoded(make([]byte, 0, len(s)), s, attr))
}

// ownString returns b as a string without a copy; b must not be used
// afterwards.
func ownString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func needsDecoding(s string, attr bool) bool {
	if !attr {
		return strings.IndexByte(s, '&') >= 0 || strings.IndexByte(s, '\r') >= 0
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&', '\r', '\t', '\n':
			return true
		}
	}
	return false
}

// Bytes that decoding changes, as sets for inSet.
const (
	textDecodeSet uint64 = 1<<'&' | 1<<'\r'
	attrDecodeSet uint64 = textDecodeSet | 1<<'\t' | 1<<'\n'
)

// appendDecoded appends s to b with references resolved. Unknown entities
// and malformed references are kept literally; character references to
// code points XML cannot carry become U+FFFD. In attribute values,
// whitespace characters become spaces, as an XML processor normalises
// them.
func appendDecoded(b []byte, s string, attr bool) []byte {
	set := textDecodeSet
	if attr {
		set = attrDecodeSet
	}
	for len(s) > 0 {
		i := 0
		for ; i+8 <= len(s); i += 8 {
			if x := word(s, i); hasByte(x, '&')|hasLess(x, '\r'+1) != 0 {
				break
			}
		}
		for i < len(s) && !inSet(set, s[i]) {
			i++
		}
		b = append(b, s[:i]...)
		if i == len(s) {
			return b
		}
		s = s[i:]
		switch s[0] {
		case '&':
			r, n := reference(s)
			if n == 0 {
				b = append(b, '&')
				s = s[1:]
				continue
			}
			b = utf8.AppendRune(b, r)
			s = s[n:]
		case '\r':
			s = s[1:]
			if len(s) > 0 && s[0] == '\n' {
				s = s[1:]
			}
			if attr {
				b = append(b, ' ')
			} else {
				b = append(b, '\n')
			}
		default: // tab or line feed in an attribute value
			b = append(b, ' ')
			s = s[1:]
		}
	}
	return b
}

// normalized returns CDATA content with line ends normalised.
func normalized(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return ownString(appendNormalized(make([]byte, 0, len(s)), s))
}

func appendNormalized(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '\r')
		if i < 0 {
			return append(b, s...)
		}
		b = append(append(b, s[:i]...), '\n')
		s = s[i+1:]
		if len(s) > 0 && s[0] == '\n' {
			s = s[1:]
		}
	}
}

// reference decodes the entity or character reference at the start of s
// (which begins with '&') and returns its rune and length, or n == 0 when s
// does not start with a reference XML defines.
func reference(s string) (r rune, n int) {
	limit := min(len(s), maxReferenceLen)
	if len(s) > 2 && s[1] == '#' {
		// A character reference, as Windows writes for line breaks and
		// tabs in messages: digits up to ';'.
		i, base := 2, rune(10)
		if s[2] == 'x' {
			i, base = 3, 16
		}
		digits := i
		for ; i < limit && s[i] != ';'; i++ {
			d := digitValue(s[i])
			if d >= base {
				return 0, 0
			}
			r = r*base + d // at most 8 digits: cannot overflow
		}
		if i == limit || i == digits {
			return 0, 0
		}
		if !isXMLChar(r) {
			return utf8.RuneError, i + 1
		}
		return r, i + 1
	}
	semi := strings.IndexByte(s[:limit], ';')
	if semi < 2 {
		return 0, 0
	}
	name := s[1:semi]
	switch name {
	case "lt":
		return '<', semi + 1
	case "gt":
		return '>', semi + 1
	case "amp":
		return '&', semi + 1
	case "apos":
		return '\'', semi + 1
	case "quot":
		return '"', semi + 1
	}
	// Character references ("&#…") were decoded above.
	return 0, 0
}

func digitValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return 99
}

// isXMLChar reports whether a character reference may stand for r. Windows
// does send references to control characters such as &#5; and they are
// kept; only what UTF-8 cannot carry is replaced.
func isXMLChar(r rune) bool {
	return r > 0 && r <= utf8.MaxRune && (r < 0xD800 || r > 0xDFFF)
}
