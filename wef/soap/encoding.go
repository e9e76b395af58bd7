package soap

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
)

// DecodeText returns the UTF-8 form of a SOAP body sent as UTF-16LE (with or
// without BOM) or UTF-8 (with or without BOM). Invalid code units and bytes
// become U+FFFD; replaced reports how many. It never fails: a forwarder that
// emits a lone surrogate must not lose its batch over it.
func DecodeText(b []byte) (text []byte, replaced int) {
	switch {
	case bytes.HasPrefix(b, bomUTF16LE):
		return decodeUTF16LE(b[2:])
	case bytes.HasPrefix(b, bomUTF8):
		return decodeUTF8(b[3:])
	case len(b) >= 2 && b[0] != 0 && b[1] == 0:
		// No BOM, but an ASCII character followed by a zero byte: UTF-16LE.
		return decodeUTF16LE(b)
	default:
		return decodeUTF8(b)
	}
}

func decodeUTF8(b []byte) ([]byte, int) {
	if utf8.Valid(b) {
		return b, 0
	}
	out := make([]byte, 0, len(b)+8)
	replaced := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			replaced++
		}
		out = utf8.AppendRune(out, r)
		b = b[size:]
	}
	return out, replaced
}

func decodeUTF16LE(b []byte) ([]byte, int) {
	replaced := 0
	if len(b)%2 == 1 {
		// A dangling byte cannot be a code unit.
		b = b[:len(b)-1]
		replaced++
	}
	out := make([]byte, 0, len(b)/2+len(b)/16)
	for i := 0; i+1 < len(b); i += 2 {
		// Envelopes are almost all ASCII: four code units below 0x80 at a
		// time, the rest one by one.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&0xFF80FF80FF80FF80 != 0 {
				break
			}
			out = append(out, byte(w), byte(w>>16), byte(w>>32), byte(w>>48))
			i += 8
		}
		if i+1 >= len(b) {
			break
		}
		u := rune(b[i]) | rune(b[i+1])<<8
		switch {
		case u < 0x80:
			out = append(out, byte(u))
			continue
		case utf16.IsSurrogate(u):
			if u < 0xDC00 && i+3 < len(b) {
				u2 := rune(b[i+2]) | rune(b[i+3])<<8
				if r := utf16.DecodeRune(u, u2); r != utf8.RuneError {
					out = utf8.AppendRune(out, r)
					i += 2
					continue
				}
			}
			replaced++
			u = utf8.RuneError
		}
		out = utf8.AppendRune(out, u)
	}
	return out, replaced
}

// EncodeUTF16LE returns s (UTF-8) as UTF-16LE with a leading BOM, the form
// Windows expects for every SOAP body.
func EncodeUTF16LE(s []byte) []byte {
	out := make([]byte, 2, 2+2*len(s))
	copy(out, bomUTF16LE)
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			out = append(out, c, 0)
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			out = append(out, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}
