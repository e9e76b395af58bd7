package soap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/xml"
)

// Message is what wefgate needs from one request envelope.
type Message struct {
	Action          string
	To              string
	MessageID       string
	ReplyTo         string
	MachineID       string
	ResourceURI     string
	SessionID       string
	OperationID     string
	MaxEnvelopeSize int
	// Size is the envelope's size in UTF-16 code units, what Windows
	// counts against a subscription's MaxEnvelopeSize (see EnvelopeSize).
	Size int
	// Identifier, Version and Revision are the subscription reference
	// parameters the forwarder echoes back as headers.
	Identifier string
	Version    string
	Revision   string
	// Bookmark is the content of w:Bookmark exactly as sent (normally a
	// <BookmarkList> element), without surrounding white space.
	Bookmark     string
	AckRequested bool
	// BodyElement is the local name of the first element in s:Body, for
	// example "Enumerate", "Events" or "SubscriptionEnd".
	BodyElement string
	// Events holds the content of each w:Events/w:Event: the event XML as
	// the forwarder rendered it. Raw XML and a lone CDATA section are
	// slices of the text given to Parse (capped, so appending copies),
	// which the caller must leave unchanged while it uses them; the
	// consumer, event.Parse, copies what it keeps.
	Events [][]byte
	// EmptyEvents counts w:Event elements with no content (or only white
	// space): counted, never in Events, since there is nothing to export.
	EmptyEvents int
	// Status is e:SubscriptionEnd/e:Status.
	Status string
}

// ErrNotSOAP is returned when the body is not a SOAP envelope at all.
var ErrNotSOAP = errors.New("soap: not a SOAP envelope")

// Parse reads an envelope from UTF-8 text (see DecodeText). It is tolerant of
// what real forwarders send (invalid XML characters inside event text,
// prefixes other than the usual ones) but rejects input that is not an
// Envelope with a Header.
//
// text is not modified, but while Parse runs the byte past its end, when
// cap(text) allows, may be borrowed (and is put back): no other goroutine
// may use that memory meanwhile.
func Parse(text []byte) (*Message, error) {
	// The lexer wants a NUL after the input and turns tabs and line breaks
	// inside attribute values into spaces, in place. Text that holds none
	// and has capacity beyond its length (as DecodeText leaves it) is lexed
	// where it is: the byte past its end holds the NUL until Parse returns,
	// and nothing else is written. Other text is lexed in a private copy.
	buf := text
	if cap(text) == len(text) || bytes.IndexByte(text, '\n') >= 0 || bytes.IndexByte(text, '\r') >= 0 || bytes.IndexByte(text, '\t') >= 0 {
		buf = make([]byte, len(text), len(text)+1)
		copy(buf, text)
	}
	in := parse.NewInputBytes(buf)
	defer in.Restore()
	lx := xml.NewLexer(in)

	m := &Message{Size: EnvelopeSize(text)}
	var (
		path        []string // local names of open elements
		textBuf     []byte
		inEvent     bool
		eventQName  []byte // qualified name of the open w:Event, in text
		closeNeedle = []byte("</")
		bookmarkAt  = -1
		sawEnvelope bool
		sawHeader   bool
		inBody      bool
	)
	for {
		start := in.Offset()
		tt, data := lx.Next()
		switch tt {
		case xml.ErrorToken:
			if err := lx.Err(); err != nil && err != io.EOF {
				return nil, fmt.Errorf("soap: malformed XML at byte %d: %w", in.Offset(), err)
			}
			if !sawEnvelope || !sawHeader {
				return nil, ErrNotSOAP
			}
			if len(path) > 0 {
				return nil, fmt.Errorf("soap: envelope ends inside <%s>", strings.Join(path, "/"))
			}
			return m, nil
		case xml.StartTagToken:
			name := localName(lx.Text())
			path = append(path, name)
			textBuf = textBuf[:0]
			depth := len(path)
			switch {
			case depth == 1:
				if name != "Envelope" {
					return nil, ErrNotSOAP
				}
				sawEnvelope = true
			case depth == 2 && name == "Header":
				sawHeader = true
			case depth == 2 && name == "Body":
				inBody = true
			case depth == 3 && inBody && m.BodyElement == "":
				m.BodyElement = name
			case depth == 4 && inBody && m.BodyElement == "Events" && name == "Event":
				inEvent = true
				eventQName = text[start+1 : start+1+len(lx.Text())]
			}
		case xml.AttributeToken:
		case xml.StartTagCloseToken:
			if len(path) == 3 && path[1] == "Header" && path[2] == "Bookmark" {
				bookmarkAt = in.Offset()
			}
			if inEvent && len(path) == 4 {
				// The event text is whatever the forwarder put there (a raw
				// NUL, a "]]>" inside CDATA, bytes that are not XML, a cut
				// element): it is cut out by the close tag, never lexed,
				// so nothing in it can make the envelope malformed.
				from := in.Offset()
				if !bytes.Equal(closeNeedle[2:], eventQName) {
					closeNeedle = append(append(closeNeedle[:0], "</"...), eventQName...)
				}
				end, ok := eventEnd(text, from, closeNeedle)
				if !ok {
					return nil, fmt.Errorf("soap: <%s> at byte %d is never closed", eventQName, start)
				}
				if ev := eventContent(text[from:end]); len(ev) > 0 {
					m.Events = append(m.Events, ev)
				} else {
					m.EmptyEvents++
				}
				// The lexer goes on from the close tag.
				in.Move(end - from)
				in.Skip()
				inEvent = false
			}
		case xml.StartTagCloseVoidToken:
			if len(path) == 3 && path[1] == "Header" && path[2] == "AckRequested" {
				m.AckRequested = true
			}
			if inEvent && len(path) == 4 {
				m.EmptyEvents++
				inEvent = false
			}
			path = path[:len(path)-1]
		case xml.EndTagToken:
			if len(path) == 0 {
				return nil, fmt.Errorf("soap: unexpected </%s>", lx.Text())
			}
			name := path[len(path)-1]
			if got := localName(lx.Text()); got != name {
				return nil, fmt.Errorf("soap: </%s> closes <%s>", got, name)
			}
			value := strings.TrimSpace(string(textBuf))
			switch {
			case len(path) == 3 && path[1] == "Header":
				m.setHeader(name, value, text, bookmarkAt, start)
			case len(path) == 4 && path[1] == "Header" && path[2] == "ReplyTo" && name == "Address":
				m.ReplyTo = value
			case len(path) == 4 && inBody && path[2] == "SubscriptionEnd" && name == "Status":
				m.Status = value
			}
			textBuf = textBuf[:0]
			path = path[:len(path)-1]
		case xml.TextToken:
			textBuf = unescapeAppend(textBuf, data)
		case xml.CDATAToken:
			textBuf = append(textBuf, lx.Text()...)
		}
	}
}

// eventEnd finds where the content of a w:Event that starts at from ends:
// at a close tag (needle is "</" and its qualified name) followed by the
// next w:Event or by the close of w:Events. A close tag followed by
// anything else is taken as part of the event text; failing a well-placed
// one, the last close tag in the text is the end. ok is false when there
// is no close tag at all.
func eventEnd(text []byte, from int, needle []byte) (end int, ok bool) {
	qname := needle[2:]
	rare := rarestByte(needle)
	end = -1
	for pos := from; ; {
		i := indexAt(text[pos:], needle, rare)
		if i < 0 {
			break
		}
		at := pos + i
		pos = at + len(needle)
		rest := trimLeftSpace(text[pos:])
		if len(rest) == 0 || rest[0] != '>' {
			continue
		}
		end = at
		rest = trimLeftSpace(rest[1:])
		if startsElement(rest, qname) || closesEvents(rest) {
			return at, true
		}
	}
	return end, end >= 0
}

// indexAt is bytes.Index(s, needle), found by looking for needle[rare]
// alone (bytes.IndexByte) and comparing the rest where it occurs. Event
// XML is mostly markup, so a search led by '<' stops at every tag; led by
// the ':' of "</w:Event" it stops a few times an event.
func indexAt(s, needle []byte, rare int) int {
	c := needle[rare]
	for i := rare; i < len(s); i++ {
		k := bytes.IndexByte(s[i:], c)
		if k < 0 {
			return -1
		}
		i += k
		if start := i - rare; start+len(needle) <= len(s) && bytes.Equal(s[start:start+len(needle)], needle) {
			return start
		}
	}
	return -1
}

// rarestByte is the index of the byte of needle least frequent in event
// XML, by a fixed ranking: ':' (in a few URIs and times an event), then
// capitals, then other letters and digits, then markup.
func rarestByte(needle []byte) int {
	rank := func(c byte) int {
		switch {
		case c == ':':
			return 0
		case 'A' <= c && c <= 'Z':
			return 1
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			return 2
		}
		return 3
	}
	best := 0
	for i, c := range needle {
		if rank(c) < rank(needle[best]) {
			best = i
		}
	}
	return best
}

// startsElement reports whether b starts with a start tag named qname.
func startsElement(b, qname []byte) bool {
	if len(b) < len(qname)+2 || b[0] != '<' || !bytes.HasPrefix(b[1:], qname) {
		return false
	}
	switch b[1+len(qname)] {
	case ' ', '\t', '\r', '\n', '/', '>':
		return true
	}
	return false
}

// closesEvents reports whether b starts with the close tag of w:Events,
// whatever its prefix.
func closesEvents(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("</")) {
		return false
	}
	i := bytes.IndexByte(b, '>')
	if i < 0 || i > 64 {
		return false
	}
	return localName(bytes.TrimRight(b[2:i], " \t\r\n")) == "Events"
}

// eventContent returns the event XML held by the content of a w:Event,
// trimmed of white space: CDATA sections as they are and text between them
// with entities resolved, or raw XML as it is. Windows does not split a
// CDATA section around a "]]>" inside the event: a "]]>" not followed by
// the end of the content or by another CDATA section is event text.
// Raw XML and a content that is one CDATA section, what forwarders send,
// are returned as slices of c; anything else is assembled in a new buffer.
func eventContent(c []byte) []byte {
	c = bytes.TrimSpace(c)
	if len(c) == 0 {
		return nil
	}
	cdataStart := []byte("<![CDATA[")
	if c[0] == '<' && !bytes.HasPrefix(c, cdataStart) {
		return c[:len(c):len(c)]
	}
	if body, ok := bytes.CutPrefix(c, cdataStart); ok {
		// One section closing at the end of the content: its body as it is.
		if k := bytes.Index(body, []byte("]]>")); k >= 0 && k == len(body)-3 {
			body = bytes.TrimSpace(body[:k])
			if len(body) == 0 {
				return nil
			}
			return body[:len(body):len(body)]
		}
	}
	out := make([]byte, 0, len(c))
	for len(c) > 0 {
		if !bytes.HasPrefix(c, cdataStart) {
			k := bytes.Index(c, cdataStart)
			if k < 0 {
				k = len(c)
			}
			out = unescapeAppend(out, c[:k])
			c = c[k:]
			continue
		}
		body := c[len(cdataStart):]
		for {
			k := bytes.Index(body, []byte("]]>"))
			if k < 0 {
				// Cut before its end: keep what there is.
				out = append(out, body...)
				c = nil
				break
			}
			out = append(out, body[:k]...)
			rest := body[k+3:]
			if next := trimLeftSpace(rest); len(next) == 0 || bytes.HasPrefix(next, cdataStart) {
				c = rest
				break
			}
			out = append(out, "]]>"...)
			body = rest
		}
	}
	return bytes.TrimSpace(out)
}

func (m *Message) setHeader(name, value string, text []byte, bookmarkAt, end int) {
	switch name {
	case "Action":
		m.Action = value
	case "To":
		m.To = value
	case "MessageID":
		m.MessageID = value
	case "MachineID":
		m.MachineID = value
	case "ResourceURI":
		m.ResourceURI = value
	case "SessionId":
		m.SessionID = value
	case "OperationID":
		m.OperationID = value
	case "MaxEnvelopeSize":
		if n, err := strconv.Atoi(value); err == nil {
			m.MaxEnvelopeSize = n
		}
	case "Identifier":
		m.Identifier = value
	case "Version":
		m.Version = value
	case "Revision":
		m.Revision = value
	case "AckRequested":
		m.AckRequested = true
	case "Bookmark":
		if bookmarkAt >= 0 && bookmarkAt <= end && end <= len(text) {
			m.Bookmark = strings.TrimSpace(string(text[bookmarkAt:end]))
		}
	}
}

// localName returns the local part of a qualified name. The names met
// once per event come back as constants, so that a batch does not cost a
// string per element.
func localName(qname []byte) string {
	if i := bytes.LastIndexByte(qname, ':'); i >= 0 {
		qname = qname[i+1:]
	}
	switch string(qname) {
	case "Event":
		return "Event"
	case "Events":
		return "Events"
	case "Bookmark":
		return "Bookmark"
	}
	return string(qname)
}

// trimLeftSpace is bytes.TrimLeft(b, " \t\r\n") without building the
// cutset on every call: XML white space, taken once per event.
func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			b = b[1:]
		default:
			return b
		}
	}
	return b
}
