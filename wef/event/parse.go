package event

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/xml"
)

// Parse parses the XML of one Windows event. It never fails and never
// panics: damaged input gives the fields that could be read and a Problem.
// raw is not modified or retained. The strings of the returned Event
// share memory with Event.Raw.
func Parse(raw []byte) *Event {
	n := len(raw)
	// One buffer serves as the lexer's input and then as Raw. The lexer
	// needs a NUL after the input and rewrites whitespace inside attribute
	// values; embedded NUL bytes would stop it early, so they are hidden
	// while it runs. Copying raw back afterwards makes the buffer equal the
	// input again before anyone but this function sees Raw.
	buf := make([]byte, n+1)
	copy(buf, raw)
	hidNUL := hideNUL(buf[:n])
	ev := &Event{Raw: unsafe.String(unsafe.SliceData(buf), n)}
	r := run{in: raw, raw: ev.Raw, hidNUL: hidNUL, ev: ev, userDataStart: -1}
	r.lex(parse.NewInputBytes(buf[:n]))
	copy(buf, raw)
	r.finish()
	return ev
}

// hideNUL replaces NUL bytes, which end the lexer's input, by a byte with
// no meaning to it, and reports whether there were any.
func hideNUL(b []byte) bool {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return false
	}
	for i >= 0 {
		b[i] = 1
		j := bytes.IndexByte(b[i+1:], 0)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return true
}

// maxDepth is how many nested elements are told apart; deeper ones (no
// event has them) are only counted.
const maxDepth = 32

// maxEndTagSearch bounds how far down the element stack a mismatched end tag
// is looked up, so that hostile nesting cannot make parsing quadratic.
const maxEndTagSearch = 8

// elemKind says which element of the event schema a frame stands for.
type elemKind uint8

const (
	kindOther elemKind = iota
	kindEvent
	kindSystem
	kindProvider
	kindEventID
	kindVersion
	kindLevel
	kindTask
	kindOpcode
	kindKeywords
	kindTimeCreated
	kindEventRecordID
	kindCorrelation
	kindExecution
	kindChannel
	kindComputer
	kindSecurity
	kindEventData
	kindData
	kindBinary
	kindUserData
	kindRendering
	kindRenderMessage
	kindRenderLevel
	kindRenderTask
	kindRenderOpcode
	kindRenderChannel
	kindRenderProvider
	kindRenderKeywords
	kindRenderKeyword
)

// takesText reports whether the element's character data is a field value.
func (k elemKind) takesText() bool {
	switch k {
	case kindEventID, kindVersion, kindLevel, kindTask, kindOpcode, kindKeywords,
		kindEventRecordID, kindChannel, kindComputer, kindData, kindBinary,
		kindRenderMessage, kindRenderLevel, kindRenderTask, kindRenderOpcode,
		kindRenderChannel, kindRenderProvider, kindRenderKeyword:
		return true
	}
	return false
}

// classify maps an element's local name to its kind given its parent's kind.
// Everything outside the known schema, including all of UserData, is
// kindOther and only skipped.
func classify(parent elemKind, name []byte) elemKind {
	switch parent {
	case kindEvent:
		switch string(name) {
		case "System":
			return kindSystem
		case "EventData":
			return kindEventData
		case "UserData":
			return kindUserData
		case "RenderingInfo":
			return kindRendering
		}
	case kindSystem:
		switch string(name) {
		case "Provider":
			return kindProvider
		case "EventID":
			return kindEventID
		case "Version":
			return kindVersion
		case "Level":
			return kindLevel
		case "Task":
			return kindTask
		case "Opcode":
			return kindOpcode
		case "Keywords":
			return kindKeywords
		case "TimeCreated":
			return kindTimeCreated
		case "EventRecordID":
			return kindEventRecordID
		case "Correlation":
			return kindCorrelation
		case "Execution":
			return kindExecution
		case "Channel":
			return kindChannel
		case "Computer":
			return kindComputer
		case "Security":
			return kindSecurity
		}
	case kindEventData:
		switch string(name) {
		case "Data":
			return kindData
		case "Binary":
			return kindBinary
		}
	case kindRendering:
		switch string(name) {
		case "Message":
			return kindRenderMessage
		case "Level":
			return kindRenderLevel
		case "Task":
			return kindRenderTask
		case "Opcode":
			return kindRenderOpcode
		case "Channel":
			return kindRenderChannel
		case "Provider":
			return kindRenderProvider
		case "Keywords":
			return kindRenderKeywords
		}
	case kindRenderKeywords:
		if string(name) == "Keyword" {
			return kindRenderKeyword
		}
	}
	return kindOther
}

// frame is one open element.
type frame struct {
	kind elemKind
	// nameStart and nameEnd locate the qualified tag name in the input, to
	// match end tags and to name the element in problem messages.
	nameStart, nameEnd int
}

// textSpan locates one piece of character data in the input.
type textSpan struct {
	start, end int
	cdata      bool
}

// run is the state of one Parse call.
type run struct {
	// in is the caller's input; raw is Raw, which shares the lexer's
	// buffer and so differs from in inside attribute values until the
	// lexer is done. Values are cut from raw; attribute values are judged
	// on in.
	in     []byte
	raw    string
	hidNUL bool
	ev     *Event

	// frames[:depth] are the open elements; overflow counts those nested
	// beyond maxDepth.
	frames   [maxDepth]frame
	depth    int
	overflow int

	// attrKind is the kind of the start tag whose attributes are being
	// lexed; kindOther means they are ignored.
	attrKind elemKind

	// The character data of the open text element: the first piece is kept
	// as a span so the common single-piece case costs no copy; further
	// pieces are decoded into text.
	firstText  textSpan
	textPieces int
	text       *bytes.Buffer

	// EventData items go to dataBuf, then to moreData; both live only
	// until the exact-size EventData slice is made.
	dataBuf  [32]Data
	nData    int
	moreData []Data

	dataName      string
	userDataStart int

	eventFound      bool
	eventClosed     bool
	haveEventID     bool
	systemClosed    bool
	eventDataClosed bool
	userDataClosed  bool
	renderingSeen   bool

	// damage describes the first structural problem met, if any.
	damage string
}

func (r *run) lex(in *parse.Input) {
	l := xml.NewLexer(in)
	for !r.eventClosed {
		tt, tok := l.Next()
		end := in.Offset()
		switch tt {
		case xml.ErrorToken:
			if err := l.Err(); err != nil && err != io.EOF {
				r.noteDamage("lexer stopped: " + err.Error())
			}
			return
		case xml.StartTagToken:
			name := l.Text()
			r.startElement(name, end-len(name), end)
		case xml.StartTagPIToken:
			r.attrKind = kindOther
		case xml.AttributeToken:
			if r.attrKind != kindOther {
				val := l.AttrVal()
				r.attribute(l.Text(), val, end-len(val), end)
			}
		case xml.StartTagCloseToken:
			r.attrKind = kindOther
			if r.top() == kindUserData {
				r.userDataStart = end
			}
		case xml.StartTagCloseVoidToken:
			r.attrKind = kindOther
			switch {
			case r.overflow > 0:
				r.overflow--
			case r.depth > 0:
				r.endElement(r.depth-1, end)
			}
		case xml.EndTagToken:
			if len(tok) == 0 || tok[len(tok)-1] != '>' {
				return // cut inside the end tag: the element stays open
			}
			r.endTag(l.Text(), end-len(tok))
		case xml.TextToken:
			r.addText(textSpan{start: end - len(tok), end: end})
		case xml.CDATAToken:
			if len(tok) < 12 || string(tok[len(tok)-3:]) != "]]>" {
				return // cut inside CDATA
			}
			start := end - len(tok) + len("<![CDATA[")
			r.addText(textSpan{start: start, end: start + len(l.Text()), cdata: true})
		}
	}
}

// top returns the kind of the innermost open element.
func (r *run) top() elemKind {
	if r.overflow > 0 || r.depth == 0 {
		return kindOther
	}
	return r.frames[r.depth-1].kind
}

func (r *run) startElement(name []byte, nameStart, nameEnd int) {
	if r.depth == maxDepth || r.overflow > 0 {
		r.overflow++
		r.attrKind = kindOther
		return
	}
	kind := classify(r.top(), localName(name))
	if !r.eventFound && string(localName(name)) == "Event" {
		kind = kindEvent
		r.eventFound = true
	}
	r.frames[r.depth] = frame{kind: kind, nameStart: nameStart, nameEnd: nameEnd}
	r.depth++
	r.attrKind = kind
	if kind.takesText() {
		r.textPieces = 0
	}
	switch kind {
	case kindData:
		r.dataName = ""
	case kindRendering:
		r.renderingSeen = true
		if r.ev.Rendering == nil {
			r.ev.Rendering = &Rendering{}
		}
	}
}

func (r *run) attribute(name, val []byte, valStart, valEnd int) {
	if len(val) == 0 {
		return
	}
	if q := val[0]; q == '"' || q == '\'' {
		if len(val) < 2 || val[len(val)-1] != q {
			return // cut inside the value
		}
		valStart++
		valEnd--
	}
	ev := r.ev
	switch string(localName(name)) {
	case "Name":
		switch r.attrKind {
		case kindProvider:
			ev.Provider.Name = r.attrValue(valStart, valEnd)
		case kindData:
			r.dataName = r.attrValue(valStart, valEnd)
		}
	case "Guid":
		if r.attrKind == kindProvider {
			ev.Provider.GUID = r.attrValue(valStart, valEnd)
		}
	case "EventSourceName":
		if r.attrKind == kindProvider {
			ev.Provider.EventSourceName = r.attrValue(valStart, valEnd)
		}
	case "Qualifiers":
		if r.attrKind == kindEventID {
			if v, ok := parseUint(r.attrValue(valStart, valEnd), 10, 16); ok {
				ev.Qualifiers, ev.HasQualifiers = uint16(v), true
			}
		}
	case "SystemTime":
		if r.attrKind == kindTimeCreated {
			ev.SystemTime = r.attrValue(valStart, valEnd)
			ev.TimeCreated, _ = parseSystemTime(ev.SystemTime)
		}
	case "ActivityID":
		if r.attrKind == kindCorrelation {
			ev.ActivityID = r.attrValue(valStart, valEnd)
		}
	case "RelatedActivityID":
		if r.attrKind == kindCorrelation {
			ev.RelatedActivityID = r.attrValue(valStart, valEnd)
		}
	case "ProcessID":
		if r.attrKind == kindExecution {
			if v, ok := parseUint(r.attrValue(valStart, valEnd), 10, 32); ok {
				ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
			}
		}
	case "ThreadID":
		if r.attrKind == kindExecution {
			if v, ok := parseUint(r.attrValue(valStart, valEnd), 10, 32); ok {
				ev.Execution.ThreadID = uint32(v)
			}
		}
	case "UserID":
		if r.attrKind == kindSecurity {
			ev.UserID = r.attrValue(valStart, valEnd)
		}
	case "Culture":
		if r.attrKind == kindRendering {
			ev.Rendering.Culture = r.attrValue(valStart, valEnd)
		}
	}
}

func (r *run) addText(s textSpan) {
	if !r.top().takesText() {
		return
	}
	switch r.textPieces {
	case 0:
		r.firstText = s
	case 1:
		if r.text == nil {
			r.text = new(bytes.Buffer)
		}
		r.text.Reset()
		r.writeSpan(r.firstText)
		fallthrough
	default:
		r.writeSpan(s)
	}
	r.textPieces++
}

func (r *run) writeSpan(s textSpan) {
	if s.cdata {
		writeNormalized(r.text, r.source(s.start, s.end))
		return
	}
	writeDecoded(r.text, r.source(s.start, s.end), false)
}

// textValue returns the character data of the element being closed.
func (r *run) textValue() string {
	switch r.textPieces {
	case 0:
		return ""
	case 1:
		s := r.firstText
		v := r.raw[s.start:s.end]
		if s.cdata {
			if strings.IndexByte(v, '\r') < 0 {
				return v
			}
			return normalized(r.source(s.start, s.end))
		}
		if !needsDecoding(v, false) {
			return v
		}
		return decoded(r.source(s.start, s.end), false)
	}
	return r.text.String()
}

// source returns input text to decode into a new string. Raw cannot serve
// while the lexer runs if NUL bytes are hidden in it.
func (r *run) source(start, end int) string {
	if r.hidNUL {
		return string(r.in[start:end])
	}
	return r.raw[start:end]
}

// attrValue returns an attribute value, normalised. The lexer has
// rewritten whitespace in raw at this point, so the original bytes decide.
func (r *run) attrValue(start, end int) string {
	if !attrNeedsDecoding(r.in[start:end]) {
		return r.raw[start:end]
	}
	return decoded(string(r.in[start:end]), true)
}

func (r *run) addData(d Data) {
	if r.nData < len(r.dataBuf) {
		r.dataBuf[r.nData] = d
		r.nData++
		return
	}
	r.moreData = append(r.moreData, d)
}

// endTag closes the open element that the end tag names. An end tag that
// matches no element nearby is ignored; elements it skips are closed.
func (r *run) endTag(name []byte, tokStart int) {
	if r.overflow > 0 {
		r.overflow-- // too deep to have been recorded: trust the name
		return
	}
	for i := r.depth - 1; i >= 0 && i >= r.depth-maxEndTagSearch; i-- {
		f := r.frames[i]
		if r.raw[f.nameStart:f.nameEnd] != string(name) {
			continue
		}
		if i != r.depth-1 {
			top := r.frames[r.depth-1]
			r.noteDamage("element <" + r.raw[top.nameStart:top.nameEnd] + "> not closed before byte " + strconv.Itoa(tokStart))
		}
		for r.depth > i+1 {
			r.endElement(r.depth-1, tokStart)
		}
		r.endElement(i, tokStart)
		return
	}
	r.noteDamage("unexpected end tag </" + string(name) + "> at byte " + strconv.Itoa(tokStart))
}

// endElement closes the frame at index i (the top of the stack); end is
// the offset where its content ends.
func (r *run) endElement(i, end int) {
	f := r.frames[i]
	r.depth = i
	ev := r.ev
	switch f.kind {
	case kindEvent:
		r.eventClosed = true
	case kindSystem:
		r.systemClosed = true
	case kindEventData:
		r.eventDataClosed = true
	case kindUserData:
		r.userDataClosed = true
		if r.userDataStart >= 0 && r.userDataStart <= end {
			ev.UserData = r.raw[r.userDataStart:end]
		}
	case kindEventID:
		if v, ok := parseUint(r.textValue(), 10, 32); ok {
			ev.EventID, r.haveEventID = uint32(v), true
		}
	case kindVersion:
		if v, ok := parseUint(r.textValue(), 10, 8); ok {
			ev.Version = uint8(v)
		}
	case kindLevel:
		if v, ok := parseUint(r.textValue(), 10, 8); ok {
			ev.Level = uint8(v)
		}
	case kindTask:
		if v, ok := parseUint(r.textValue(), 10, 16); ok {
			ev.Task = uint16(v)
		}
	case kindOpcode:
		if v, ok := parseUint(r.textValue(), 10, 8); ok {
			ev.Opcode = uint8(v)
		}
	case kindKeywords:
		ev.KeywordsRaw = r.textValue()
		ev.Keywords, _ = parseKeywords(ev.KeywordsRaw)
	case kindEventRecordID:
		if v, ok := parseUint(r.textValue(), 10, 64); ok {
			ev.RecordID, ev.HasRecordID = v, true
		}
	case kindChannel:
		ev.Channel = r.textValue()
	case kindComputer:
		ev.Computer = r.textValue()
	case kindData:
		r.addData(Data{Name: r.dataName, Value: r.textValue()})
	case kindBinary:
		ev.Binary = r.textValue()
	case kindRenderMessage:
		ev.Rendering.Message = r.textValue()
	case kindRenderLevel:
		ev.Rendering.Level = r.textValue()
	case kindRenderTask:
		ev.Rendering.Task = r.textValue()
	case kindRenderOpcode:
		ev.Rendering.Opcode = r.textValue()
	case kindRenderChannel:
		ev.Rendering.Channel = r.textValue()
	case kindRenderProvider:
		ev.Rendering.Provider = r.textValue()
	case kindRenderKeyword:
		ev.Rendering.Keywords = append(ev.Rendering.Keywords, r.textValue())
	}
	if f.kind.takesText() {
		r.textPieces = 0
	}
}

func (r *run) noteDamage(msg string) {
	if r.damage == "" {
		r.damage = msg
	}
}

// finish stores the EventData and classifies what went wrong, if anything.
func (r *run) finish() {
	ev := r.ev
	if n := r.nData + len(r.moreData); n > 0 {
		ev.EventData = make([]Data, 0, n)
		ev.EventData = append(ev.EventData, r.dataBuf[:r.nData]...)
		ev.EventData = append(ev.EventData, r.moreData...)
	}
	if !r.eventClosed && r.eventFound {
		r.noteDamage("truncated inside " + r.openPath() + " at byte " + strconv.Itoa(len(r.raw)))
	}
	switch {
	case !r.eventFound:
		ev.Problem = &Problem{Kind: ProblemUnparsable, Message: "no <Event> element"}
	case !r.haveEventID:
		msg := "no readable System/EventID"
		if r.damage != "" {
			msg = r.damage + "; " + msg
		}
		ev.Problem = &Problem{Kind: ProblemUnparsable, Message: msg}
	case r.damage == "":
	case r.eventClosed:
		// Structural damage, but the whole event was read.
		ev.Problem = &Problem{Kind: ProblemRecovered, Message: r.damage}
	case r.systemClosed && (r.eventDataClosed || r.userDataClosed || r.renderingSeen) && !r.insideContent():
		ev.Problem = &Problem{Kind: ProblemRecovered, Message: r.damage}
	default:
		ev.Problem = &Problem{Kind: ProblemPartial, Message: r.damage}
	}
}

// insideContent reports whether parsing stopped inside System, EventData or
// UserData, whose fields are then incomplete.
func (r *run) insideContent() bool {
	for _, f := range r.frames[:r.depth] {
		switch f.kind {
		case kindSystem, kindEventData, kindUserData:
			return true
		}
	}
	return false
}

// openPath names the open elements from Event down, as in
// "Event/RenderingInfo/Message".
func (r *run) openPath() string {
	var b strings.Builder
	started := false
	for _, f := range r.frames[:r.depth] {
		if f.kind == kindEvent {
			started = true
		}
		if !started {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(string(localName([]byte(r.raw[f.nameStart:f.nameEnd]))))
	}
	return b.String()
}

// localName strips a namespace prefix: namespaces play no part in telling
// the event's elements apart.
func localName(name []byte) []byte {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ':' {
			return name[i+1:]
		}
	}
	return name
}
