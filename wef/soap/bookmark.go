package soap

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxBookmarkChannels bounds how many channels one BookmarkList may name.
// A Windows subscription query selects at most 256 channels.
const MaxBookmarkChannels = 256

// Bookmark is one entry of a <BookmarkList>: a channel, as the host wrote
// its name, and the record id of the last event delivered from it.
type Bookmark struct {
	Channel  string
	RecordID uint64
}

// ParseBookmarkList reads the bookmark a Windows host sends in the
// w:Bookmark header of an Events message, and that a collector hands back
// in the subscription (MS-WSMV 3.1.4.1.30.1):
//
//	<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>
//
// It returns the entries in document order. "" and the WS-Management
// "earliest" marker give none, as does a list whose entries lack a
// RecordId (the Direction="backward" list a fresh subscription starts
// with). Malformed XML, a RecordId that is not a decimal uint64, and more
// than MaxBookmarkChannels entries are errors.
func ParseBookmarkList(s string) ([]Bookmark, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == BookmarkEarliest {
		return nil, nil
	}
	var out []Bookmark
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bookmark: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Bookmark" {
			continue
		}
		var channel, id string
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "Channel":
				channel = a.Value
			case "RecordId":
				id = a.Value
			}
		}
		if channel == "" || id == "" {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bookmark: RecordId %q of channel %q is not a decimal number", id, channel)
		}
		if len(out) == MaxBookmarkChannels {
			return nil, fmt.Errorf("bookmark: more than %d channels", MaxBookmarkChannels)
		}
		out = append(out, Bookmark{Channel: channel, RecordID: n})
	}
}
