package winvalue

import "strings"

// Hex parses a Windows HexInt32/HexInt64/Pointer rendering ("0x1e20",
// "0x0000000000001E20") into its value. A value without the 0x prefix is
// read as decimal, which is how UInt32 fields are rendered. Surrounding
// white space is ignored; anything else (empty, "-", overflow) is not a
// number and reports false.
func Hex(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return parseDigits(s[2:], 16)
	}
	return parseDigits(s, 10)
}

// parseDigits is strconv.ParseUint without the allocation of an error value
// on the hot path (every handle event carries several ids).
func parseDigits(s string, base uint64) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v > (^uint64(0)-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}
