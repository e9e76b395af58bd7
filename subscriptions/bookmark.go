package subscriptions

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxBookmarkChannels bounds what one BookmarkList may name. A Windows
// subscription query rarely selects more than a handful of channels.
const maxBookmarkChannels = 256

// BookmarkPositions returns the record id per channel of a BookmarkList
// as Windows sends it in an Events message (MS-WSMV 3.1.4.1.30.1):
//
//	<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>
//
// Channel names are compared case-insensitively, as the event log does,
// so they are returned lower-cased. A bookmark without record ids (the
// synthetic Direction="backward" list a fresh subscription starts with)
// gives an empty map. Malformed XML or a record id that is not a decimal
// uint64 is an error.
func BookmarkPositions(bookmark string) (map[string]uint64, error) {
	out := map[string]uint64{}
	dec := xml.NewDecoder(strings.NewReader(bookmark))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Bookmark" {
			continue
		}
		var channel, id string
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "Channel":
				channel = strings.ToLower(a.Value)
			case "RecordId":
				id = a.Value
			}
		}
		if channel == "" || id == "" {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, errors.New("bookmark: RecordId of " + channel + " is not a number")
		}
		if len(out) >= maxBookmarkChannels {
			return nil, errors.New("bookmark: too many channels")
		}
		if n > out[channel] {
			out[channel] = n
		}
	}
}

// BookmarkIsStale reports whether next would move a host's bookmark
// backwards from stored: some channel both name has a lower record id in
// next. This happens when a slow node finishes an older batch of a host
// after another node committed a newer one. A bookmark that cannot be
// parsed is never stale (the newest write wins, as before clustering).
func BookmarkIsStale(stored, next map[string]uint64) bool {
	for ch, n := range next {
		if old, ok := stored[ch]; ok && n < old {
			return true
		}
	}
	return false
}

// positionsJSON encodes positions for the PostgreSQL store's jsonb column
// (encoding/json sorts the keys and escapes the channel names).
func positionsJSON(p map[string]uint64) []byte {
	b, _ := json.Marshal(p) // a map[string]uint64 always encodes
	return b
}
