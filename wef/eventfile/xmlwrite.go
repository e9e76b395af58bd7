package eventfile

import (
	"strconv"
	"unicode/utf8"

	"wefgate/wef/event"
)

// eventNamespace is the namespace Windows puts on every <Event>.
const eventNamespace = "http://schemas.microsoft.com/win/2004/08/events/event"

// EventXML renders ev as the one-line event XML a Windows forwarder sends:
// single-quoted attributes, System first, then EventData or UserData, then
// RenderingInfo when ev.Rendering is set. Control characters (CR, LF, TAB
// included) are written as character references, so the result never
// spans lines. ev.Raw and ev.Problem are ignored; SystemTime is written as
// is when set, else TimeCreated in Windows' format.
func EventXML(ev *event.Event) string {
	b := make([]byte, 0, 1024)
	b = append(b, "<Event xmlns='"+eventNamespace+"'><System><Provider"...)
	b = appendAttr(b, "Name", ev.Provider.Name, true)
	b = appendAttr(b, "Guid", ev.Provider.GUID, false)
	b = appendAttr(b, "EventSourceName", ev.Provider.EventSourceName, false)
	b = append(b, "/><EventID"...)
	if ev.HasQualifiers {
		b = append(b, " Qualifiers='"...)
		b = strconv.AppendUint(b, uint64(ev.Qualifiers), 10)
		b = append(b, '\'')
	}
	b = append(b, '>')
	b = strconv.AppendUint(b, uint64(ev.EventID), 10)
	b = append(b, "</EventID><Version>"...)
	b = strconv.AppendUint(b, uint64(ev.Version), 10)
	b = append(b, "</Version><Level>"...)
	b = strconv.AppendUint(b, uint64(ev.Level), 10)
	b = append(b, "</Level><Task>"...)
	b = strconv.AppendUint(b, uint64(ev.Task), 10)
	b = append(b, "</Task><Opcode>"...)
	b = strconv.AppendUint(b, uint64(ev.Opcode), 10)
	b = append(b, "</Opcode><Keywords>"...)
	if ev.KeywordsRaw != "" {
		b = appendText(b, ev.KeywordsRaw)
	} else {
		b = appendKeywords(b, ev.Keywords)
	}
	b = append(b, "</Keywords><TimeCreated"...)
	switch {
	case ev.SystemTime != "":
		b = appendAttr(b, "SystemTime", ev.SystemTime, true)
	case !ev.TimeCreated.IsZero():
		b = appendAttr(b, "SystemTime", windowsTime(ev.TimeCreated), true)
	}
	b = append(b, "/>"...)
	if ev.HasRecordID {
		b = append(b, "<EventRecordID>"...)
		b = strconv.AppendUint(b, ev.RecordID, 10)
		b = append(b, "</EventRecordID>"...)
	}
	b = append(b, "<Correlation"...)
	b = appendAttr(b, "ActivityID", ev.ActivityID, false)
	b = appendAttr(b, "RelatedActivityID", ev.RelatedActivityID, false)
	b = append(b, "/>"...)
	if ev.Execution.HasProcessID {
		b = append(b, "<Execution ProcessID='"...)
		b = strconv.AppendUint(b, uint64(ev.Execution.ProcessID), 10)
		b = append(b, "' ThreadID='"...)
		b = strconv.AppendUint(b, uint64(ev.Execution.ThreadID), 10)
		b = append(b, "'/>"...)
	}
	b = appendElem(b, "Channel", ev.Channel)
	b = appendElem(b, "Computer", ev.Computer)
	b = append(b, "<Security"...)
	b = appendAttr(b, "UserID", ev.UserID, false)
	b = append(b, "/></System>"...)

	switch {
	case ev.UserData != "":
		b = append(b, "<UserData>"...)
		b = append(b, ev.UserData...)
		b = append(b, "</UserData>"...)
	case len(ev.EventData) > 0 || ev.Binary != "":
		b = append(b, "<EventData>"...)
		for _, d := range ev.EventData {
			b = append(b, "<Data"...)
			b = appendAttr(b, "Name", d.Name, false)
			if d.Value == "" {
				b = append(b, "/>"...)
				continue
			}
			b = append(b, '>')
			b = appendText(b, d.Value)
			b = append(b, "</Data>"...)
		}
		if ev.Binary != "" {
			b = appendElem(b, "Binary", ev.Binary)
		}
		b = append(b, "</EventData>"...)
	default:
		b = append(b, "<EventData/>"...)
	}

	if r := ev.Rendering; r != nil {
		b = append(b, "<RenderingInfo"...)
		b = appendAttr(b, "Culture", r.Culture, false)
		b = append(b, '>')
		b = appendElem(b, "Message", r.Message)
		b = appendElem(b, "Level", r.Level)
		b = appendElem(b, "Task", r.Task)
		b = appendElem(b, "Opcode", r.Opcode)
		b = appendElem(b, "Channel", r.Channel)
		b = appendElem(b, "Provider", r.Provider)
		b = append(b, "<Keywords>"...)
		for _, k := range r.Keywords {
			b = appendElem(b, "Keyword", k)
		}
		b = append(b, "</Keywords></RenderingInfo>"...)
	}
	b = append(b, "</Event>"...)
	return string(b)
}

func appendKeywords(b []byte, k uint64) []byte {
	const digits = "0123456789abcdef"
	b = append(b, "0x"...)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(k>>shift)&0xF])
	}
	return b
}

// appendAttr writes  name='value'; empty values are left out unless always.
func appendAttr(b []byte, name, value string, always bool) []byte {
	if value == "" && !always {
		return b
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "='"...)
	b = appendEscaped(b, value, true)
	return append(b, '\'')
}

func appendElem(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendText(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendText escapes s for use as character data.
func appendText(b []byte, s string) []byte { return appendEscaped(b, s, false) }

// appendEscaped escapes s for use as character data or, with attr, as a
// quoted attribute value. Control characters become character references
// so that no event spans lines and whitespace in attributes survives;
// invalid UTF-8 becomes U+FFFD.
func appendEscaped(b []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '\'' && attr:
			b = append(b, "&apos;"...)
		case c == '"' && attr:
			b = append(b, "&quot;"...)
		case c < 0x20 || c == 0x7F:
			b = append(b, "&#"...)
			b = strconv.AppendUint(b, uint64(c), 10)
			b = append(b, ';')
		default:
			b = append(b, c)
		}
		i++
	}
	return b
}
