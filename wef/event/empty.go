package event

import "bytes"

// ContentFree reports whether the event carries nothing at all: nothing
// could be read from it (no System field, no EventData, UserData or
// rendering) and its text holds no character data either, only markup and
// white space (<Event/>, <Event><System/></Event>). Every such element would
// map to the same empty record, so the endpoint counts and drops it
// (issue 10's amplification case). An event whose text holds anything else,
// even bytes that are not XML at all, is not content-free: it is kept with
// its Problem, so that no event a host sent is lost for what it carries.
func (e *Event) ContentFree() bool {
	return e.EventID == 0 && !e.HasRecordID && e.Provider == (Provider{}) && e.Channel == "" &&
		e.Computer == "" && e.SystemTime == "" && e.KeywordsRaw == "" && len(e.EventData) == 0 &&
		e.UserData == "" && e.Binary == "" && e.Rendering == nil && markupOnly(e.Raw)
}

// markupOnly reports whether s holds nothing but tags, comments and white
// space. A CDATA section's content counts as character data; an unclosed
// tag, or a '<' that starts no tag, counts as character data too.
func markupOnly(s string) bool {
	b := []byte(s)
	for len(b) > 0 {
		switch c := b[0]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			b = b[1:]
		case bytes.HasPrefix(b, []byte("<![CDATA[")):
			end := bytes.Index(b, []byte("]]>"))
			if end < 0 {
				return false
			}
			if len(bytes.TrimSpace(b[len("<![CDATA["):end])) > 0 {
				return false
			}
			b = b[end+3:]
		case c == '<' && len(b) > 1 && (isNameStart(b[1]) || b[1] == '/' || b[1] == '?' || b[1] == '!'):
			end := bytes.IndexByte(b, '>')
			if end < 0 {
				return false
			}
			b = b[end+1:]
		default:
			return false
		}
	}
	return true
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}
