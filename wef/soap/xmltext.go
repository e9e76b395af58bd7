package soap

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// unescapeAppend appends text with the five XML entities and numeric
// character references resolved. Anything else that starts with '&' is kept
// verbatim: forwarders are not always well-formed and the text must survive.
func unescapeAppend(dst, text []byte) []byte {
	for {
		i := bytes.IndexByte(text, '&')
		if i < 0 {
			return append(dst, text...)
		}
		dst = append(dst, text[:i]...)
		text = text[i:]
		end := bytes.IndexByte(text, ';')
		if end < 2 || end > 12 {
			dst = append(dst, '&')
			text = text[1:]
			continue
		}
		ref := text[1:end]
		if r, ok := resolveRef(ref); ok {
			dst = utf8.AppendRune(dst, r)
		} else {
			dst = append(dst, text[:end+1]...)
		}
		text = text[end+1:]
	}
}

func resolveRef(ref []byte) (rune, bool) {
	switch string(ref) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if ref[0] != '#' {
		return 0, false
	}
	num, base := ref[1:], 10
	if len(num) > 0 && (num[0] == 'x' || num[0] == 'X') {
		num, base = num[1:], 16
	}
	n, err := strconv.ParseUint(string(num), base, 32)
	if err != nil || n > utf8.MaxRune {
		return 0, false
	}
	return rune(n), true
}

// escapeText appends s with the characters XML text and attribute values
// cannot hold literally replaced by entities.
func escapeText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
