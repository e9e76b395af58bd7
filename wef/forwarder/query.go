package forwarder

import (
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
)

// query is the part of a subscription's QueryList a simulated host
// evaluates: which channels, and which event ids (none listed: all). It
// is what Windows does with the common "EventID=… or EventID=…" queries,
// not a full XPath engine.
type query struct {
	selects []selector
}

type selector struct {
	channel string
	ids     map[uint32]bool
}

var reEventID = regexp.MustCompile(`EventID\s*=\s*(\d+)`)

// parseQuery reads a <QueryList>; an unreadable one matches everything.
func parseQuery(s string) query {
	var ql struct {
		Queries []struct {
			Selects []struct {
				Path  string `xml:"Path,attr"`
				XPath string `xml:",chardata"`
			} `xml:"Select"`
		} `xml:"Query"`
	}
	if err := xml.Unmarshal([]byte(s), &ql); err != nil {
		return query{}
	}
	var q query
	for _, qq := range ql.Queries {
		for _, sel := range qq.Selects {
			sl := selector{channel: sel.Path}
			for _, m := range reEventID.FindAllStringSubmatch(sel.XPath, -1) {
				if id, err := strconv.ParseUint(m[1], 10, 32); err == nil {
					if sl.ids == nil {
						sl.ids = map[uint32]bool{}
					}
					sl.ids[uint32(id)] = true
				}
			}
			q.selects = append(q.selects, sl)
		}
	}
	return q
}

var reEventIDElem = regexp.MustCompile(`<EventID[^>]*>\s*(\d+)\s*</EventID>`)

func (q query) matches(r Record) bool {
	if len(q.selects) == 0 {
		return true
	}
	var id uint32
	idRead := false
	for _, s := range q.selects {
		if s.ids != nil && !idRead {
			// Only a selector listing event ids needs the id: the regular
			// expression is most of a simulated host's cost per event.
			idRead = true
			if m := reEventIDElem.FindSubmatch(r.XML); m != nil {
				n, _ := strconv.ParseUint(string(m[1]), 10, 32)
				id = uint32(n)
			}
		}
		if strings.EqualFold(s.channel, r.Channel) && (s.ids == nil || s.ids[id]) {
			return true
		}
	}
	return false
}
