package soap

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
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
	if out, ok := parseBookmarkListFast(s); ok {
		return out, nil
	}
	return parseBookmarkListXML(s)
}

// parseBookmarkListXML is ParseBookmarkList through encoding/xml: the
// reference for every input, and the path for all the fast scan refuses.
func parseBookmarkListXML(s string) ([]Bookmark, error) {
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

// parseBookmarkListFast reads the one shape Windows sends and collectors
// store, without encoding/xml's per-token allocations:
//
//	<BookmarkList[ Direction="backward"]><Bookmark Channel="…"[ RecordId="…"][ IsCurrent="true"]/>…</BookmarkList>
//
// Attributes are double-quoted, separated by one space, in any order;
// values may hold the five predefined XML entities. ok is false for
// anything else (whitespace between elements, other attributes or
// elements, numeric character references, a bad RecordId, too many
// entries), and the caller then parses with encoding/xml, so the result
// when ok is true is exactly parseBookmarkListXML's (FuzzBookmarkFastPath).
func parseBookmarkListFast(s string) (out []Bookmark, ok bool) {
	rest, found := strings.CutPrefix(s, "<BookmarkList")
	if !found {
		return nil, false
	}
	if r, found := strings.CutPrefix(rest, ` Direction="backward"`); found {
		rest = r
	}
	rest, found = strings.CutPrefix(rest, ">")
	if !found {
		return nil, false
	}
	for {
		if rest == "</BookmarkList>" {
			return out, true
		}
		rest, found = strings.CutPrefix(rest, "<Bookmark ")
		if !found {
			return nil, false
		}
		var channel, id string
		var seenC, seenR, seenI bool
		for {
			if r, found := strings.CutPrefix(rest, "/>"); found {
				rest = r
				break
			}
			name, val, r, good := scanBookmarkAttr(rest)
			if !good {
				return nil, false
			}
			switch {
			case name == "Channel" && !seenC:
				seenC = true
				if channel, good = unescapeBookmarkAttr(val); !good {
					return nil, false
				}
			case name == "RecordId" && !seenR:
				seenR = true
				if id, good = unescapeBookmarkAttr(val); !good {
					return nil, false
				}
			case name == "IsCurrent" && !seenI && val == "true":
				seenI = true
			default:
				return nil, false
			}
			rest = r
			if r, found := strings.CutPrefix(rest, " "); found {
				rest = r
			} else if !strings.HasPrefix(rest, "/>") {
				return nil, false
			}
		}
		if channel == "" || id == "" {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil || len(out) == MaxBookmarkChannels {
			return nil, false
		}
		if out == nil {
			out = make([]Bookmark, 0, 1)
		}
		out = append(out, Bookmark{Channel: channel, RecordID: n})
	}
}

// scanBookmarkAttr reads name="value" at the start of s. Values that are
// not UTF-8 or hold '<', a control character (XML normalises '\t', '\n'
// and '\r'; the rest are not XML characters) or U+FFFE/U+FFFF are refused.
func scanBookmarkAttr(s string) (name, val, rest string, ok bool) {
	eq := strings.Index(s, `="`)
	if eq <= 0 {
		return "", "", "", false
	}
	name = s[:eq]
	s = s[eq+2:]
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return "", "", "", false
	}
	val = s[:end]
	if !utf8.ValidString(val) {
		return "", "", "", false
	}
	for _, r := range val {
		if r < 0x20 || r == '<' || r == 0xFFFE || r == 0xFFFF {
			return "", "", "", false
		}
	}
	return name, val, s[end+1:], true
}

// unescapeBookmarkAttr decodes the five predefined XML entities; any
// other '&' (numeric references included) is refused.
func unescapeBookmarkAttr(v string) (string, bool) {
	if strings.IndexByte(v, '&') < 0 {
		return v, true
	}
	var b strings.Builder
	b.Grow(len(v))
	for v != "" {
		i := strings.IndexByte(v, '&')
		if i < 0 {
			b.WriteString(v)
			break
		}
		b.WriteString(v[:i])
		v = v[i:]
		var r byte
		switch {
		case strings.HasPrefix(v, "&amp;"):
			r, v = '&', v[5:]
		case strings.HasPrefix(v, "&lt;"):
			r, v = '<', v[4:]
		case strings.HasPrefix(v, "&gt;"):
			r, v = '>', v[4:]
		case strings.HasPrefix(v, "&quot;"):
			r, v = '"', v[6:]
		case strings.HasPrefix(v, "&apos;"):
			r, v = '\'', v[6:]
		default:
			return "", false
		}
		b.WriteByte(r)
	}
	return b.String(), true
}
