package subscriptions

import (
	"encoding/json"
	"strings"

	"wefgate/wef/soap"
)

// BookmarkPositions returns the record id per channel of a BookmarkList
// (soap.ParseBookmarkList). Channel names are compared case-insensitively,
// as the event log does, so they are returned lower-cased, and a channel
// named twice keeps its highest record id. A bookmark without record ids
// gives an empty map; what ParseBookmarkList refuses is an error.
func BookmarkPositions(bookmark string) (map[string]uint64, error) {
	list, err := soap.ParseBookmarkList(bookmark)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(list))
	for _, b := range list {
		ch := strings.ToLower(b.Channel)
		out[ch] = max(out[ch], b.RecordID)
	}
	return out, nil
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
