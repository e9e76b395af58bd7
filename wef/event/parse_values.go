package event

import (
	"strconv"
	"strings"
	"time"
)

// parseUint parses a decimal or hexadecimal number that may be surrounded by
// whitespace (pretty-printed XML).
func parseUint(s string, base, bits int) (uint64, bool) {
	if v, ok := parseDigits(s, base); ok && v>>bits == 0 {
		return v, true
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, base, bits)
	return v, err == nil
}

// parseDigits is parseUint's fast path for what Windows sends: nothing but
// decimal (base 10) or hexadecimal (base 16) digits, too few to overflow
// 64 bits. ok is false for anything else, which parseUint then parses as
// strconv does.
func parseDigits(s string, base int) (v uint64, ok bool) {
	if len(s) == 0 || base == 10 && len(s) > 19 || base == 16 && len(s) > 16 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case base == 16 && 'a' <= c|0x20 && c|0x20 <= 'f':
			c = c | 0x20 - 'a' + 10
		default:
			return 0, false
		}
		v = v*uint64(base) + uint64(c)
	}
	return v, true
}

// parseKeywords parses System/Keywords, which Windows writes as "0x" and 16
// hex digits; a plain decimal number is accepted too.
func parseKeywords(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return parseUint(s[2:], 16, 64)
	}
	return parseUint(s, 10, 64)
}

// parseSystemTime parses TimeCreated@SystemTime. Windows sends RFC 3339 in
// UTC with 7 fractional digits ("2022-12-14T16:06:51.0643605Z"); EVTX
// converters such as python-evtx write "2021-03-26 16:36:00.829020", which
// is UTC too. Any number of fractional digits and a numeric offset are
// accepted; the result is always in UTC.
func parseSystemTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04:05") ||
		s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
		(s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return time.Time{}, false
	}
	year, ok1 := atoiFixed(s[0:4])
	month, ok2 := atoiFixed(s[5:7])
	day, ok3 := atoiFixed(s[8:10])
	hour, ok4 := atoiFixed(s[11:13])
	minute, ok5 := atoiFixed(s[14:16])
	sec, ok6 := atoiFixed(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]

	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100_000_000
		for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10 // digits past the ninth add nothing
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}

	offset := 0
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, okh := atoiFixed(rest[1:3])
		m, okm := atoiFixed(rest[4:6])
		if !okh || !okm || h > 23 || m > 59 {
			return time.Time{}, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// atoiFixed parses a field of ASCII digits.
func atoiFixed(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
