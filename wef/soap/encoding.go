package soap

import (
	"bytes"
	"encoding/binary"
	"slices"
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

// TextSizeHint is the size in bytes of the buffer DecodeText allocates for
// n bytes of UTF-16: envelopes are almost all ASCII, one byte a code unit,
// so it sizes for that with some slack; text that needs more grows it.
func TextSizeHint(n int) int { return n/2 + n/16 + 16 }

func decodeUTF16LE(b []byte) ([]byte, int) {
	replaced := 0
	if len(b)%2 == 1 {
		// A dangling byte cannot be a code unit.
		b = b[:len(b)-1]
		replaced++
	}
	out := make([]byte, TextSizeHint(len(b)))
	n := 0
	for i := 0; i < len(b); {
		k := packASCII(out[n:], b[i:])
		n += k
		if i += 2 * k; i == len(b) {
			break
		}
		if len(out)-n < utf8.UTFMax {
			out = slices.Grow(out[:n], len(b)/2)
			out = out[:cap(out)]
		}
		u := rune(b[i]) | rune(b[i+1])<<8
		i += 2
		switch {
		case u < 0x80:
			out[n] = byte(u)
			n++
			continue
		case utf16.IsSurrogate(u):
			if u < 0xDC00 && i+1 < len(b) {
				if r := utf16.DecodeRune(u, rune(b[i])|rune(b[i+1])<<8); r != utf8.RuneError {
					n += utf8.EncodeRune(out[n:], r)
					i += 2
					continue
				}
			}
			replaced++
			u = utf8.RuneError
		}
		n += utf8.EncodeRune(out[n:], u)
	}
	return out[:n], replaced
}

// packASCII writes the UTF-8 form of the code units at the start of b
// that are below 0x80, sixteen and then eight at a time, into dst while there is room, and
// returns how many it wrote; the caller takes the rest one by one.
func packASCII(dst, b []byte) int {
	n := 0
	for n+16 <= len(dst) && 2*n+32 <= len(b) {
		units := b[2*n : 2*n+32 : 2*n+32]
		w0 := binary.LittleEndian.Uint64(units[0:8])
		w1 := binary.LittleEndian.Uint64(units[8:16])
		w2 := binary.LittleEndian.Uint64(units[16:24])
		w3 := binary.LittleEndian.Uint64(units[24:32])
		if (w0|w1|w2|w3)&0xFF80FF80FF80FF80 != 0 {
			break
		}
		out := dst[n : n+16 : n+16]
		binary.LittleEndian.PutUint64(out[0:8], packLowBytes(w0)|packLowBytes(w1)<<32)
		binary.LittleEndian.PutUint64(out[8:16], packLowBytes(w2)|packLowBytes(w3)<<32)
		n += 16
	}
	for n+8 <= len(dst) && 2*n+16 <= len(b) {
		units := b[2*n : 2*n+16 : 2*n+16]
		w0 := binary.LittleEndian.Uint64(units[:8])
		w1 := binary.LittleEndian.Uint64(units[8:])
		if (w0|w1)&0xFF80FF80FF80FF80 != 0 {
			break
		}
		binary.LittleEndian.PutUint64(dst[n:n+8], packLowBytes(w0)|packLowBytes(w1)<<32)
		n += 8
	}
	return n
}

// packLowBytes gathers the low bytes of the four 16-bit lanes of w into
// the low 32 bits; every lane must be below 0x100.
func packLowBytes(w uint64) uint64 {
	w = (w | w>>8) & 0x0000FFFF0000FFFF
	return uint64(uint32(w | w>>16))
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
