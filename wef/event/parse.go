package event

import (
	"strconv"
	"strings"
)

// Parse parses the XML of one Windows event (UTF-8; one <Event> element of
// the event schema, https://learn.microsoft.com/windows/win32/wes/eventschema-schema,
// normally with System, EventData or UserData, and RenderingInfo when the
// subscription asks for RenderedText). It never fails and never panics:
// damaged input gives the fields that could be read and a Problem.
//
// The XML is read by run.scan, which knows the subset of XML 1.0 that
// Windows writes (see there) and reads anything else as it stands:
// references other than the five predefined entities and character
// references are kept literally, and a DOCTYPE declares nothing. raw is
// not modified or retained. The strings of the returned Event share
// memory with Event.Raw, a copy of raw.
func Parse(raw []byte) *Event {
	r := run{raw: string(raw), userDataStart: -1}
	r.ev.Raw = r.raw
	r.scan()
	r.finish()
	return r.event()
}

// event returns the Event built on the stack, copied once to the heap
// (storing each string into a heap Event would cost a write barrier apiece
// while the GC runs), in one allocation with its EventData when there are
// at most 32 items, as in nearly every event. EventData's capacity is its
// length, so that appending to it never writes into the Event.
func (r *run) event() *Event {
	var ev *Event
	var data []Data
	switch n := r.nData + len(r.moreData); {
	case n == 0:
		ev = new(Event)
	case n <= 4:
		h := new(struct {
			ev   Event
			data [4]Data
		})
		ev, data = &h.ev, h.data[:0:n]
	case n <= 8:
		h := new(struct {
			ev   Event
			data [8]Data
		})
		ev, data = &h.ev, h.data[:0:n]
	case n <= 16:
		h := new(struct {
			ev   Event
			data [16]Data
		})
		ev, data = &h.ev, h.data[:0:n]
	case n <= len(r.dataBuf):
		h := new(struct {
			ev   Event
			data [len(r.dataBuf)]Data
		})
		ev, data = &h.ev, h.data[:0:n]
	default:
		ev, data = new(Event), make([]Data, 0, n)
	}
	*ev = r.ev
	if data != nil {
		for _, d := range r.dataBuf[:r.nData] {
			data = append(data, Data{Name: r.str(d.name), Value: r.str(d.value)})
		}
		for _, d := range r.moreData {
			data = append(data, Data{Name: r.str(d.name), Value: r.str(d.value)})
		}
		ev.EventData = data
	}
	return ev
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
func (k elemKind) takesText() bool { return textKinds>>k&1 != 0 }

const textKinds uint64 = 1<<kindEventID | 1<<kindVersion | 1<<kindLevel | 1<<kindTask |
	1<<kindOpcode | 1<<kindKeywords | 1<<kindEventRecordID | 1<<kindChannel |
	1<<kindComputer | 1<<kindData | 1<<kindBinary | 1<<kindRenderMessage |
	1<<kindRenderLevel | 1<<kindRenderTask | 1<<kindRenderOpcode |
	1<<kindRenderChannel | 1<<kindRenderProvider | 1<<kindRenderKeyword

// attrKinds are the elements with attributes that are fields.
const attrKinds uint64 = 1<<kindProvider | 1<<kindData | 1<<kindEventID | 1<<kindTimeCreated |
	1<<kindCorrelation | 1<<kindExecution | 1<<kindSecurity | 1<<kindRendering

// classify maps an element's local name to its kind given its parent's kind.
// Everything outside the known schema, including all of UserData, is
// kindOther and only skipped.
func classify(parent elemKind, name string) elemKind {
	switch parent {
	case kindEvent:
		switch name {
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
		switch name {
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
		switch name {
		case "Data":
			return kindData
		case "Binary":
			return kindBinary
		}
	case kindRendering:
		switch name {
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
		if name == "Keyword" {
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
	// plain: nothing to decode or normalise (no '&' outside CDATA, no CR).
	plain bool
}

// run is the state of one Parse call.
type run struct {
	// raw is Event.Raw: values are cut from it.
	raw string
	// nul is 0 until raw has been searched for NUL, then 1 (none) or 2.
	nul uint8
	ev  Event

	// frames[:depth] are the open elements; overflow counts those nested
	// beyond maxDepth.
	frames   [maxDepth]frame
	depth    int
	overflow int

	// attrKind is the kind of the start tag whose attributes are being
	// scanned; kindOther means they are ignored.
	attrKind elemKind

	// The character data of the open text element: the first piece is kept
	// as a span so the common single-piece case costs no copy; further
	// pieces are decoded into text.
	firstText  textSpan
	textPieces int
	text       []byte

	// EventData items go to dataBuf, then to moreData, as references:
	// while the GC marks, every string stored costs a write barrier, and
	// these are stored again into the Event at the end.
	dataBuf  [32]dataRef
	nData    int
	moreData []dataRef
	// strs holds the values that are not slices of raw (decoded ones).
	strs []string

	dataName      strRef
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

// top returns the kind of the innermost open element.
func (r *run) top() elemKind {
	if r.overflow > 0 || r.depth == 0 {
		return kindOther
	}
	return r.frames[r.depth-1].kind
}

func (r *run) startElement(nameStart, nameEnd int) {
	if r.depth == maxDepth || r.overflow > 0 {
		r.overflow++
		r.attrKind = kindOther
		return
	}
	local := localName(r.raw[nameStart:nameEnd])
	kind := classify(r.top(), local)
	if !r.eventFound && local == "Event" {
		kind = kindEvent
		r.eventFound = true
	}
	r.frames[r.depth] = frame{kind: kind, nameStart: nameStart, nameEnd: nameEnd}
	r.depth++
	r.attrKind = kind
	if attrKinds>>kind&1 == 0 {
		r.attrKind = kindOther // no attribute of it is a field
	}
	if kind.takesText() {
		r.textPieces = 0
	}
	switch kind {
	case kindData:
		r.dataName = strRef{}
	case kindRendering:
		r.renderingSeen = true
		if r.ev.Rendering == nil {
			r.ev.Rendering = &Rendering{}
		}
	}
}

// attribute stores an attribute of the start tag being scanned; the value
// is raw[valStart:valEnd], quotes included; plain reports that the
// value holds no '&', tab, CR or LF (nothing to decode or normalise).
func (r *run) attribute(name string, valStart, valEnd int, plain bool) {
	if valEnd == valStart {
		return
	}
	if q := r.raw[valStart]; q == '"' || q == '\'' {
		if valEnd-valStart < 2 || r.raw[valEnd-1] != q {
			return // cut inside the value
		}
		valStart++
		valEnd--
	}
	ev := &r.ev
	switch localName(name) {
	case "Name":
		switch r.attrKind {
		case kindProvider:
			ev.Provider.Name = r.attrValue(valStart, valEnd, plain)
		case kindData:
			if plain {
				r.dataName = strRef{valStart, valEnd}
			} else {
				r.dataName = r.ref(decoded(r.raw[valStart:valEnd], true))
			}
		}
	case "Guid":
		if r.attrKind == kindProvider {
			ev.Provider.GUID = r.attrValue(valStart, valEnd, plain)
		}
	case "EventSourceName":
		if r.attrKind == kindProvider {
			ev.Provider.EventSourceName = r.attrValue(valStart, valEnd, plain)
		}
	case "Qualifiers":
		if r.attrKind == kindEventID {
			if v, ok := parseUint(r.attrValue(valStart, valEnd, plain), 10, 16); ok {
				ev.Qualifiers, ev.HasQualifiers = uint16(v), true
			}
		}
	case "SystemTime":
		if r.attrKind == kindTimeCreated {
			ev.SystemTime = r.attrValue(valStart, valEnd, plain)
			ev.TimeCreated, _ = parseSystemTime(ev.SystemTime)
		}
	case "ActivityID":
		if r.attrKind == kindCorrelation {
			ev.ActivityID = r.attrValue(valStart, valEnd, plain)
		}
	case "RelatedActivityID":
		if r.attrKind == kindCorrelation {
			ev.RelatedActivityID = r.attrValue(valStart, valEnd, plain)
		}
	case "ProcessID":
		if r.attrKind == kindExecution {
			if v, ok := parseUint(r.attrValue(valStart, valEnd, plain), 10, 32); ok {
				ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
			}
		}
	case "ThreadID":
		if r.attrKind == kindExecution {
			if v, ok := parseUint(r.attrValue(valStart, valEnd, plain), 10, 32); ok {
				ev.Execution.ThreadID = uint32(v)
			}
		}
	case "UserID":
		if r.attrKind == kindSecurity {
			ev.UserID = r.attrValue(valStart, valEnd, plain)
		}
	case "Culture":
		if r.attrKind == kindRendering {
			ev.Rendering.Culture = r.attrValue(valStart, valEnd, plain)
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
		r.text = r.text[:0]
		r.writeSpan(r.firstText)
		fallthrough
	default:
		r.writeSpan(s)
	}
	r.textPieces++
}

func (r *run) writeSpan(s textSpan) {
	if s.cdata {
		r.text = appendNormalized(r.text, r.raw[s.start:s.end])
		return
	}
	r.text = appendDecoded(r.text, r.raw[s.start:s.end], false)
}

// textValue returns the character data of the element being closed.
func (r *run) textValue() string {
	switch r.textPieces {
	case 0:
		return ""
	case 1:
		s := r.firstText
		v := r.raw[s.start:s.end]
		if s.plain {
			return v
		}
		if s.cdata {
			return normalized(v)
		}
		return decoded(v, false)
	}
	return string(r.text)
}

// attrValue returns an attribute value, normalised.
func (r *run) attrValue(start, end int, plain bool) string {
	if plain {
		return r.raw[start:end]
	}
	return decoded(r.raw[start:end], true)
}

// strRef locates a string: raw[start:end], or r.strs[end] when start < 0.
type strRef struct{ start, end int }

// dataRef is an EventData item as references.
type dataRef struct{ name, value strRef }

func (r *run) str(s strRef) string {
	if s.start < 0 {
		return r.strs[s.end]
	}
	return r.raw[s.start:s.end]
}

// ref returns a reference to a string that is not a slice of raw.
func (r *run) ref(s string) strRef {
	r.strs = append(r.strs, s)
	return strRef{-1, len(r.strs) - 1}
}

// textRef is textValue as a reference.
func (r *run) textRef() strRef {
	switch s := r.firstText; {
	case r.textPieces == 0:
		return strRef{}
	case r.textPieces == 1 && s.plain:
		return strRef{s.start, s.end}
	}
	return r.ref(r.textValue())
}

func (r *run) addData(d dataRef) {
	if r.nData < len(r.dataBuf) {
		r.dataBuf[r.nData] = d
		r.nData++
		return
	}
	r.moreData = append(r.moreData, d)
}

// endTag closes the open element that the end tag names. An end tag that
// matches no element nearby is ignored; elements it skips are closed.
func (r *run) endTag(name string, tokStart int) {
	if r.overflow > 0 {
		r.overflow-- // too deep to have been recorded: trust the name
		return
	}
	for i := r.depth - 1; i >= 0 && i >= r.depth-maxEndTagSearch; i-- {
		f := r.frames[i]
		if !r.sameName(r.raw[f.nameStart:f.nameEnd], name) {
			continue
		}
		if i != r.depth-1 && r.damage == "" {
			top := r.frames[r.depth-1]
			r.noteDamage("element <" + r.nulShown(r.raw[top.nameStart:top.nameEnd]) + "> not closed before byte " + strconv.Itoa(tokStart))
		}
		for r.depth > i+1 {
			r.endElement(r.depth-1, tokStart)
		}
		r.endElement(i, tokStart)
		return
	}
	if r.damage == "" {
		r.noteDamage("unexpected end tag </" + r.nulShown(name) + "> at byte " + strconv.Itoa(tokStart))
	}
}

// sameName reports whether an end tag's name matches a start tag's. NUL
// and U+0001 count as the same character here and nulShown shows NUL as
// U+0001, as the lexer wefgate used before did: it could not hold NUL,
// and the problem messages of events with NUL in a tag name stay as they
// were.
func (r *run) sameName(start, end string) bool {
	if start == end {
		return true
	}
	if len(start) != len(end) || !r.hasNUL() {
		return false
	}
	for i := 0; i < len(start); i++ {
		a, b := start[i], end[i]
		if a != b && !(a <= 1 && b <= 1) {
			return false
		}
	}
	return true
}

// hasNUL reports whether the input holds a NUL byte; only the rare paths
// that need to know ask.
func (r *run) hasNUL() bool {
	if r.nul == 0 {
		r.nul = 1
		if strings.IndexByte(r.raw, 0) >= 0 {
			r.nul = 2
		}
	}
	return r.nul == 2
}

func (r *run) nulShown(name string) string {
	if !r.hasNUL() {
		return name
	}
	return strings.ReplaceAll(name, "\x00", "\x01")
}

// endElement closes the frame at index i (the top of the stack); end is
// the offset where its content ends.
func (r *run) endElement(i, end int) {
	f := r.frames[i]
	r.depth = i
	ev := &r.ev
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
		r.addData(dataRef{name: r.dataName, value: r.textRef()})
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

// finish classifies what went wrong, if anything.
func (r *run) finish() {
	ev := &r.ev
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
		b.WriteString(localName(r.raw[f.nameStart:f.nameEnd]))
	}
	return b.String()
}

// localName strips a namespace prefix: namespaces play no part in telling
// the event's elements apart.
func localName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ':' {
			return name[i+1:]
		}
	}
	return name
}
