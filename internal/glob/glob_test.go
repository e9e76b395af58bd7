package glob

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at\\all", true},
		{"*.corp.example", "HOST1.Corp.Example", true},
		{"*.corp.example", "host1.corp.example.evil", false},
		{"win*$@CORP.EXAMPLE", "win10$@corp.example", true},
		{"host/*@R", "host/x@R", true},
		{`\REGISTRY\MACHINE\SOFTWARE\*`, `\registry\machine\software\Microsoft\x`, true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"[", "[", true},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b", "axxb")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if first := Match(pattern, s); Match(pattern, s) != first {
			t.Fatal("not deterministic")
		}
		if !Match("*", s) || !Match(s, s) && !containsStar(s) {
			t.Fatalf("%q does not match itself or *", s)
		}
	})
}

func containsStar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			return true
		}
	}
	return false
}
