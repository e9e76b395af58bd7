package event

// This file keeps the event parser as it was before the hand-written
// scanner (commit 692e4fb, tdewolff's XML lexer), only as a test oracle:
// FuzzParseMatchesOracle checks that Parse returns the same Event for any
// input. The element kinds and time parsing are shared with parse.go;
// tokenising, text decoding and number parsing are the old ones, here.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/xml"
)

// Parse parses the XML of one Windows event. It never fails and never
// panics: damaged input gives the fields that could be read and a Problem.
// raw is not modified or retained. The strings of the returned Event
// share memory with Event.Raw.
func oracleParse(raw []byte) *Event {
	n := len(raw)
	// One buffer serves as the lexer's input and then as Raw. The lexer
	// needs a NUL after the input and rewrites whitespace inside attribute
	// values; embedded NUL bytes would stop it early, so they are hidden
	// while it runs. Copying raw back afterwards makes the buffer equal the
	// input again before anyone but this function sees Raw.
	buf := make([]byte, n+1)
	copy(buf, raw)
	hidNUL := oracleHideNUL(buf[:n])
	ev := &Event{Raw: unsafe.String(unsafe.SliceData(buf), n)}
	r := oracleRun{in: raw, raw: ev.Raw, hidNUL: hidNUL, ev: ev, userDataStart: -1}
	r.lex(parse.NewInputBytes(buf[:n]))
	copy(buf, raw)
	r.finish()
	return ev
}

// oracleHideNUL replaces NUL bytes, which end the lexer's input, by a byte with
// no meaning to it, and reports whether there were any.
func oracleHideNUL(b []byte) bool {
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

// oracleMaxDepth is how many nested elements are told apart; deeper ones (no
// event has them) are only counted.
const oracleMaxDepth = 32

// oracleMaxEndTagSearch bounds how far down the element stack a mismatched end tag
// is looked up, so that hostile nesting cannot make parsing quadratic.
const oracleMaxEndTagSearch = 8

// oracleClassify maps an element's local name to its kind given its parent's kind.
// Everything outside the known schema, including all of UserData, is
// kindOther and only skipped.
func oracleClassify(parent elemKind, name []byte) elemKind {
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

// oracleFrame is one open element.
type oracleFrame struct {
	kind elemKind
	// nameStart and nameEnd locate the qualified tag name in the input, to
	// match end tags and to name the element in problem messages.
	nameStart, nameEnd int
}

// oracleSpan locates one piece of character data in the input.
type oracleSpan struct {
	start, end int
	cdata      bool
}

// oracleRun is the state of one Parse call.
type oracleRun struct {
	// in is the caller's input; raw is Raw, which shares the lexer's
	// buffer and so differs from in inside attribute values until the
	// lexer is done. Values are cut from raw; attribute values are judged
	// on in.
	in     []byte
	raw    string
	hidNUL bool
	ev     *Event

	// frames[:depth] are the open elements; overflow counts those nested
	// beyond oracleMaxDepth.
	frames   [oracleMaxDepth]oracleFrame
	depth    int
	overflow int

	// attrKind is the kind of the start tag whose attributes are being
	// lexed; kindOther means they are ignored.
	attrKind elemKind

	// The character data of the open text element: the first piece is kept
	// as a span so the common single-piece case costs no copy; further
	// pieces are decoded into text.
	firstText  oracleSpan
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

func (r *oracleRun) lex(in *parse.Input) {
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
			r.addText(oracleSpan{start: end - len(tok), end: end})
		case xml.CDATAToken:
			if len(tok) < 12 || string(tok[len(tok)-3:]) != "]]>" {
				return // cut inside CDATA
			}
			start := end - len(tok) + len("<![CDATA[")
			r.addText(oracleSpan{start: start, end: start + len(l.Text()), cdata: true})
		}
	}
}

// top returns the kind of the innermost open element.
func (r *oracleRun) top() elemKind {
	if r.overflow > 0 || r.depth == 0 {
		return kindOther
	}
	return r.frames[r.depth-1].kind
}

func (r *oracleRun) startElement(name []byte, nameStart, nameEnd int) {
	if r.depth == oracleMaxDepth || r.overflow > 0 {
		r.overflow++
		r.attrKind = kindOther
		return
	}
	kind := oracleClassify(r.top(), oracleLocalName(name))
	if !r.eventFound && string(oracleLocalName(name)) == "Event" {
		kind = kindEvent
		r.eventFound = true
	}
	r.frames[r.depth] = oracleFrame{kind: kind, nameStart: nameStart, nameEnd: nameEnd}
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

func (r *oracleRun) attribute(name, val []byte, valStart, valEnd int) {
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
	switch string(oracleLocalName(name)) {
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
			if v, ok := oracleParseUint(r.attrValue(valStart, valEnd), 10, 16); ok {
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
			if v, ok := oracleParseUint(r.attrValue(valStart, valEnd), 10, 32); ok {
				ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
			}
		}
	case "ThreadID":
		if r.attrKind == kindExecution {
			if v, ok := oracleParseUint(r.attrValue(valStart, valEnd), 10, 32); ok {
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

func (r *oracleRun) addText(s oracleSpan) {
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

func (r *oracleRun) writeSpan(s oracleSpan) {
	if s.cdata {
		oracleWriteNormalized(r.text, r.source(s.start, s.end))
		return
	}
	oracleWriteDecoded(r.text, r.source(s.start, s.end), false)
}

// textValue returns the character data of the element being closed.
func (r *oracleRun) textValue() string {
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
			return oracleNormalized(r.source(s.start, s.end))
		}
		if !oracleNeedsDecoding(v, false) {
			return v
		}
		return oracleDecoded(r.source(s.start, s.end), false)
	}
	return r.text.String()
}

// source returns input text to decode into a new string. Raw cannot serve
// while the lexer runs if NUL bytes are hidden in it.
func (r *oracleRun) source(start, end int) string {
	if r.hidNUL {
		return string(r.in[start:end])
	}
	return r.raw[start:end]
}

// attrValue returns an attribute value, normalised. The lexer has
// rewritten whitespace in raw at this point, so the original bytes decide.
func (r *oracleRun) attrValue(start, end int) string {
	if !oracleAttrNeedsDecoding(r.in[start:end]) {
		return r.raw[start:end]
	}
	return oracleDecoded(string(r.in[start:end]), true)
}

func (r *oracleRun) addData(d Data) {
	if r.nData < len(r.dataBuf) {
		r.dataBuf[r.nData] = d
		r.nData++
		return
	}
	r.moreData = append(r.moreData, d)
}

// endTag closes the open element that the end tag names. An end tag that
// matches no element nearby is ignored; elements it skips are closed.
func (r *oracleRun) endTag(name []byte, tokStart int) {
	if r.overflow > 0 {
		r.overflow-- // too deep to have been recorded: trust the name
		return
	}
	for i := r.depth - 1; i >= 0 && i >= r.depth-oracleMaxEndTagSearch; i-- {
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

// endElement closes the oracleFrame at index i (the top of the stack); end is
// the offset where its content ends.
func (r *oracleRun) endElement(i, end int) {
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
		if v, ok := oracleParseUint(r.textValue(), 10, 32); ok {
			ev.EventID, r.haveEventID = uint32(v), true
		}
	case kindVersion:
		if v, ok := oracleParseUint(r.textValue(), 10, 8); ok {
			ev.Version = uint8(v)
		}
	case kindLevel:
		if v, ok := oracleParseUint(r.textValue(), 10, 8); ok {
			ev.Level = uint8(v)
		}
	case kindTask:
		if v, ok := oracleParseUint(r.textValue(), 10, 16); ok {
			ev.Task = uint16(v)
		}
	case kindOpcode:
		if v, ok := oracleParseUint(r.textValue(), 10, 8); ok {
			ev.Opcode = uint8(v)
		}
	case kindKeywords:
		ev.KeywordsRaw = r.textValue()
		ev.Keywords, _ = oracleParseKeywords(ev.KeywordsRaw)
	case kindEventRecordID:
		if v, ok := oracleParseUint(r.textValue(), 10, 64); ok {
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

func (r *oracleRun) noteDamage(msg string) {
	if r.damage == "" {
		r.damage = msg
	}
}

// finish stores the EventData and classifies what went wrong, if anything.
func (r *oracleRun) finish() {
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
func (r *oracleRun) insideContent() bool {
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
func (r *oracleRun) openPath() string {
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
		b.WriteString(string(oracleLocalName([]byte(r.raw[f.nameStart:f.nameEnd]))))
	}
	return b.String()
}

// oracleLocalName strips a namespace prefix: namespaces play no part in telling
// the event's elements apart.
func oracleLocalName(name []byte) []byte {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ':' {
			return name[i+1:]
		}
	}
	return name
}

// The text decoding of parse_text.go as it was.

// oracleTextWriter is what the decoders write to: a strings.Builder for a single
// value, a bytes.Buffer when a value is assembled from several pieces.
type oracleTextWriter interface {
	WriteString(s string) (int, error)
	WriteByte(c byte) error
	WriteRune(r rune) (int, error)
}

// oracleMaxReferenceLen bounds how far past '&' a oracleReference's ';' is looked for,
// which keeps decoding linear on inputs full of stray ampersands. The
// longest valid oracleReference is "&#x10FFFF;" or "&#1114111;" (10 bytes).
const oracleMaxReferenceLen = 10

// oracleDecoded returns character data or an attribute value with XML references
// resolved and line ends normalised (XML 1.0 §2.11, §3.3.3). Input that
// needs no change is returned as is, sharing memory with s.
func oracleDecoded(s string, attr bool) string {
	if !oracleNeedsDecoding(s, attr) {
		return s
	}
	var b strings.Builder
	// Decoding never makes text longer: every oracleReference is at least as
	// long as the UTF-8 it stands for.
	b.Grow(len(s))
	oracleWriteDecoded(&b, s, attr)
	return b.String()
}

func oracleNeedsDecoding(s string, attr bool) bool {
	if !attr {
		return strings.IndexByte(s, '&') >= 0 || strings.IndexByte(s, '\r') >= 0
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&', '\r', '\t', '\n':
			return true
		}
	}
	return false
}

// oracleAttrNeedsDecoding is oracleNeedsDecoding for an attribute value given as bytes.
func oracleAttrNeedsDecoding(b []byte) bool {
	for _, c := range b {
		switch c {
		case '&', '\r', '\t', '\n':
			return true
		}
	}
	return false
}

// oracleWriteDecoded writes s to w with references resolved. Unknown entities and
// malformed references are kept literally; character references to code
// points XML cannot carry become U+FFFD. In attribute values, whitespace
// characters become spaces, as an XML processor normalises them.
func oracleWriteDecoded(w oracleTextWriter, s string, attr bool) {
	for len(s) > 0 {
		i := 0
		for i < len(s) {
			c := s[i]
			if c == '&' || c == '\r' || attr && (c == '\t' || c == '\n') {
				break
			}
			i++
		}
		w.WriteString(s[:i])
		if i == len(s) {
			return
		}
		s = s[i:]
		switch s[0] {
		case '&':
			r, n := oracleReference(s)
			if n == 0 {
				w.WriteByte('&')
				s = s[1:]
				continue
			}
			w.WriteRune(r)
			s = s[n:]
		case '\r':
			s = s[1:]
			if len(s) > 0 && s[0] == '\n' {
				s = s[1:]
			}
			if attr {
				w.WriteByte(' ')
			} else {
				w.WriteByte('\n')
			}
		default: // tab or line feed in an attribute value
			w.WriteByte(' ')
			s = s[1:]
		}
	}
}

// oracleNormalized returns CDATA content with line ends normalised.
func oracleNormalized(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	oracleWriteNormalized(&b, s)
	return b.String()
}

func oracleWriteNormalized(w oracleTextWriter, s string) {
	for {
		i := strings.IndexByte(s, '\r')
		if i < 0 {
			w.WriteString(s)
			return
		}
		w.WriteString(s[:i])
		w.WriteByte('\n')
		s = s[i+1:]
		if len(s) > 0 && s[0] == '\n' {
			s = s[1:]
		}
	}
}

// oracleReference decodes the entity or character oracleReference at the start of s
// (which begins with '&') and returns its rune and length, or n == 0 when s
// does not start with a oracleReference XML defines.
func oracleReference(s string) (r rune, n int) {
	limit := min(len(s), oracleMaxReferenceLen)
	semi := strings.IndexByte(s[:limit], ';')
	if semi < 2 {
		return 0, 0
	}
	name := s[1:semi]
	switch name {
	case "lt":
		return '<', semi + 1
	case "gt":
		return '>', semi + 1
	case "amp":
		return '&', semi + 1
	case "apos":
		return '\'', semi + 1
	case "quot":
		return '"', semi + 1
	}
	if name[0] != '#' || len(name) < 2 {
		return 0, 0
	}
	digits, base := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, 0
	}
	var v rune
	for i := 0; i < len(digits); i++ {
		d := oracleDigitValue(digits[i])
		if d >= base {
			return 0, 0
		}
		v = v*base + d // at most 8 digits: cannot overflow
	}
	if !oracleIsXMLChar(v) {
		return utf8.RuneError, semi + 1
	}
	return v, semi + 1
}

func oracleDigitValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return 99
}

// oracleIsXMLChar reports whether a character oracleReference may stand for r. Windows
// does send references to control characters such as &#5; and they are
// kept; only what UTF-8 cannot carry is replaced.
func oracleIsXMLChar(r rune) bool {
	return r > 0 && r <= utf8.MaxRune && (r < 0xD800 || r > 0xDFFF)
}

// The number parsing of parse_values.go as it was.

func oracleParseUint(s string, base, bits int) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, base, bits)
	return v, err == nil
}

func oracleParseKeywords(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return oracleParseUint(s[2:], 16, 64)
	}
	return oracleParseUint(s, 10, 64)
}
