package event

import "testing"

// TestContentFree separates what the endpoint may drop (nothing in it at
// all, issue 10) from damaged events it must keep (issue 9).
func TestContentFree(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"empty", "", true},
		{"white space", " \r\n\t", true},
		{"empty element", "<Event/>", true},
		{"empty system", "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System/></Event>", true},
		{"empty CDATA", "<![CDATA[  ]]>", true},
		{"comment only", "<!-- nothing -->", true},
		{"not XML", "x", false},
		{"bytes that are not XML", "\x00\x01garbage\xff", false},
		{"text in an unknown element", "<Foo>bar</Foo>", false},
		{"a lone angle bracket", "< oops", false},
		{"unclosed tag", "<Event", false},
		{"CDATA with text", "<![CDATA[x]]>", false},
		{"readable event", "<Event><System><EventID>4658</EventID></System></Event>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse([]byte(tt.raw)).ContentFree(); got != tt.want {
				t.Errorf("ContentFree(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}
