package soap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseBookmarkList(t *testing.T) {
	many := "<BookmarkList>" + strings.Repeat(`<Bookmark Channel="C" RecordId="1"/>`, MaxBookmarkChannels+1) + "</BookmarkList>"
	tests := []struct {
		name, in string
		want     []Bookmark
		err      string
	}{
		{"windows", `<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>`, []Bookmark{{"Security", 72207}}, ""},
		{"two channels, case kept", `<BookmarkList><Bookmark Channel="Security" RecordId="1"/><Bookmark Channel="Microsoft-Windows-WinRM/Operational" RecordId="2"/></BookmarkList>`,
			[]Bookmark{{"Security", 1}, {"Microsoft-Windows-WinRM/Operational", 2}}, ""},
		{"fresh subscription", `<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`, nil, ""},
		{"empty", "  ", nil, ""},
		{"earliest", BookmarkEarliest, nil, ""},
		{"negative id", `<BookmarkList><Bookmark Channel="Security" RecordId="-1"/></BookmarkList>`, nil, "not a decimal number"},
		{"truncated", `<BookmarkList><Bookmark`, nil, "bookmark:"},
		{"too many", many, nil, "more than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBookmarkList(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseBookmarkList = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseBookmarkList(f *testing.F) {
	f.Add(`<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>`)
	f.Add(`<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`)
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseBookmarkList(s)
		if err == nil && len(list) > MaxBookmarkChannels {
			t.Fatalf("%d entries", len(list))
		}
		for _, b := range list {
			if b.Channel == "" {
				t.Fatal("entry without a channel")
			}
		}
	})
}

// FuzzBookmarkFastPath checks the hand-written scan against encoding/xml:
// whenever the scan accepts an input, its entries are exactly those of
// parseBookmarkListXML.
func FuzzBookmarkFastPath(f *testing.F) {
	for _, s := range []string{
		`<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>`,
		`<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`,
		`<BookmarkList><Bookmark Channel="Security" RecordId="1"/><Bookmark Channel="Microsoft-Windows-WinRM/Operational" RecordId="2"/></BookmarkList>`,
		`<BookmarkList><Bookmark Channel="A&amp;B &lt;&gt;&quot;&apos;" RecordId="3" IsCurrent="true"/></BookmarkList>`,
		`<BookmarkList><Bookmark Channel="A&#38;B" RecordId="3"/></BookmarkList>`,
		`<BookmarkList><Bookmark Channel="Security" RecordId="-1"/></BookmarkList>`,
		`<BookmarkList><Bookmark`,
		`<BookmarkList><Bookmark RecordId="5" Channel="Setup" /></BookmarkList>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parseBookmarkListFast(s)
		if !ok {
			return
		}
		ref, err := parseBookmarkListXML(s)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/xml: %v", s, err)
		}
		if !slices.Equal(fast, ref) {
			t.Fatalf("%q: fast %+v, encoding/xml %+v", s, fast, ref)
		}
	})
}

func TestParseBookmarkListFastAccepts(t *testing.T) {
	for _, s := range []string{
		`<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>`,
		`<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`,
		`<BookmarkList><Bookmark Channel="A&amp;B" RecordId="3"/><Bookmark Channel="Setup" RecordId="4"/></BookmarkList>`,
	} {
		if _, ok := parseBookmarkListFast(s); !ok {
			t.Errorf("fast path refused the Windows shape %q", s)
		}
	}
}
