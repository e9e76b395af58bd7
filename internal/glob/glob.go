// Package glob matches the simple wildcard patterns wefgate's
// configuration uses for host identities, object names and images: '*'
// stands for any run of characters (slashes and backslashes included, as
// in Windows paths and Kerberos principals), every other character stands
// for itself, and case is ignored (ASCII).
package glob

// Match reports whether s matches pattern.
func Match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && equalFold(pattern[p], s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func equalFold(a, b byte) bool {
	if a == b {
		return true
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}
