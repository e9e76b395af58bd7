package event

import "strings"

// System as Windows sends it. The Event Log service renders System the same
// way for every event: the same children in the same order, no white space,
// attribute values without references. scanSystem reads exactly that shape
// with literal comparisons instead of the general scanner, which costs most
// of a parse per element. Anything else (another order, white space, a
// prefix, a reference, a cut) makes it return false having changed
// nothing, and the general scanner reads the element as usual. What it
// stores is what the general path would store for the same bytes.

// sysMatch walks s from i, comparing literals.
type sysMatch struct {
	s  string
	i  int
	ok bool
}

func (m *sysMatch) lit(l string) {
	if m.ok && strings.HasPrefix(m.s[m.i:], l) {
		m.i += len(l)
		return
	}
	m.ok = false
}

// opt consumes l if it is next and reports whether it was.
func (m *sysMatch) opt(l string) bool {
	if m.ok && strings.HasPrefix(m.s[m.i:], l) {
		m.i += len(l)
		return true
	}
	return false
}

// quoted reads a quoted attribute value with nothing to decode, returning
// its bounds.
func (m *sysMatch) quoted() (a, b int) {
	if !m.ok || m.i >= len(m.s) || (m.s[m.i] != '\'' && m.s[m.i] != '"') {
		m.ok = false
		return 0, 0
	}
	q := m.s[m.i]
	a = m.i + 1
	b = valueStop(m.s, a, q)
	if b >= len(m.s) || m.s[b] != q {
		m.ok = false // a reference, a tab or line break, or a cut
		return 0, 0
	}
	m.i = b + 1
	return a, b
}

// quotedIf is quoted for an attribute that may be absent: present is
// what opt returned for its name.
func (m *sysMatch) quotedIf(present bool) (a, b int) {
	if !present {
		return 0, 0
	}
	return m.quoted()
}

// text reads "<name>", character data with nothing to decode and
// "</name>", returning the data's bounds.
func (m *sysMatch) text(open, close string) (a, b int) {
	m.lit(open)
	if !m.ok {
		return 0, 0
	}
	a = m.i
	b = textStop(m.s, a)
	if b >= len(m.s) || m.s[b] != '<' {
		m.ok = false
		return 0, 0
	}
	m.i = b
	m.lit(close)
	return a, b
}

// scanSystem reads a System element starting at i (at "<System>") as a
// child of Event, and returns where it ends, or ok == false.
func (r *run) scanSystem(i int) (end int, ok bool) {
	if r.overflow > 0 || r.depth == 0 || r.depth+2 > maxDepth || r.frames[r.depth-1].kind != kindEvent {
		return 0, false
	}
	m := sysMatch{s: r.raw, i: i, ok: true}
	m.lit("<System><Provider Name=")
	pName, pNameEnd := m.quoted()
	hasGUID := m.opt(" Guid=")
	pGUID, pGUIDEnd := m.quotedIf(hasGUID)
	hasSource := m.opt(" EventSourceName=")
	pSource, pSourceEnd := m.quotedIf(hasSource)
	m.lit("/><EventID")
	hasQual := m.opt(" Qualifiers=")
	qual, qualEnd := m.quotedIf(hasQual)
	m.lit(">")
	id, idEnd := m.text("", "</EventID>")
	version, versionEnd := m.text("<Version>", "</Version>")
	level, levelEnd := m.text("<Level>", "</Level>")
	task, taskEnd := m.text("<Task>", "</Task>")
	opcode, opcodeEnd := m.text("<Opcode>", "</Opcode>")
	kw, kwEnd := m.text("<Keywords>", "</Keywords>")
	m.lit("<TimeCreated SystemTime=")
	st, stEnd := m.quoted()
	m.lit("/><EventRecordID>")
	rec, recEnd := m.text("", "</EventRecordID>")
	m.lit("<Correlation")
	hasAct := m.opt(" ActivityID=")
	act, actEnd := m.quotedIf(hasAct)
	hasRel := m.opt(" RelatedActivityID=")
	rel, relEnd := m.quotedIf(hasRel)
	m.lit("/><Execution ProcessID=")
	pid, pidEnd := m.quoted()
	m.lit(" ThreadID=")
	tid, tidEnd := m.quoted()
	m.lit("/>")
	channel, channelEnd := m.text("<Channel>", "</Channel>")
	computer, computerEnd := m.text("<Computer>", "</Computer>")
	m.lit("<Security")
	hasUser := m.opt(" UserID=")
	user, userEnd := m.quotedIf(hasUser)
	m.lit("/></System>")
	if !m.ok {
		return 0, false
	}

	// As startElement, attribute and endElement would, in document order.
	s, ev := r.raw, &r.ev
	ev.Provider.Name = s[pName:pNameEnd]
	if hasGUID {
		ev.Provider.GUID = s[pGUID:pGUIDEnd]
	}
	if hasSource {
		ev.Provider.EventSourceName = s[pSource:pSourceEnd]
	}
	if hasQual {
		if v, ok := parseUint(s[qual:qualEnd], 10, 16); ok {
			ev.Qualifiers, ev.HasQualifiers = uint16(v), true
		}
	}
	if v, ok := parseUint(s[id:idEnd], 10, 32); ok {
		ev.EventID, r.haveEventID = uint32(v), true
	}
	if v, ok := parseUint(s[version:versionEnd], 10, 8); ok {
		ev.Version = uint8(v)
	}
	if v, ok := parseUint(s[level:levelEnd], 10, 8); ok {
		ev.Level = uint8(v)
	}
	if v, ok := parseUint(s[task:taskEnd], 10, 16); ok {
		ev.Task = uint16(v)
	}
	if v, ok := parseUint(s[opcode:opcodeEnd], 10, 8); ok {
		ev.Opcode = uint8(v)
	}
	ev.KeywordsRaw = s[kw:kwEnd]
	ev.Keywords, _ = parseKeywords(ev.KeywordsRaw)
	ev.SystemTime = s[st:stEnd]
	ev.TimeCreated, _ = parseSystemTime(ev.SystemTime)
	if v, ok := parseUint(s[rec:recEnd], 10, 64); ok {
		ev.RecordID, ev.HasRecordID = v, true
	}
	if hasAct {
		ev.ActivityID = s[act:actEnd]
	}
	if hasRel {
		ev.RelatedActivityID = s[rel:relEnd]
	}
	if v, ok := parseUint(s[pid:pidEnd], 10, 32); ok {
		ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
	}
	if v, ok := parseUint(s[tid:tidEnd], 10, 32); ok {
		ev.Execution.ThreadID = uint32(v)
	}
	ev.Channel = s[channel:channelEnd]
	ev.Computer = s[computer:computerEnd]
	if hasUser {
		ev.UserID = s[user:userEnd]
	}
	r.systemClosed = true
	r.attrKind = kindOther
	r.textPieces = 0
	return m.i, true
}

// scanEventData reads an EventData element starting at i (at
// "<EventData>") as a child of Event, as Windows writes it: Data items
// (named or not, each with one piece of character data or empty) and an
// optional Binary, with no white space between them. It returns where the element
// ends, or ok == false having changed nothing.
func (r *run) scanEventData(i int) (end int, ok bool) {
	if r.overflow > 0 || r.depth == 0 || r.depth+2 > maxDepth || r.frames[r.depth-1].kind != kindEvent {
		return 0, false
	}
	m := sysMatch{s: r.raw, i: i, ok: true}
	m.lit("<EventData>")
	if !m.ok {
		return 0, false
	}
	nData, nMore, nStrs := r.nData, len(r.moreData), len(r.strs)
	var name strRef
	items := 0
	for m.opt("<Data") {
		name = strRef{}
		if m.opt(" Name=") {
			a, b := m.quoted()
			name = strRef{a, b}
		}
		if m.opt("/>") {
			r.addData(dataRef{name: name})
			items++
			continue
		}
		t := m.anyText(">", "</Data>")
		if !m.ok {
			break
		}
		value := strRef{t.a, t.b}
		if !t.plain {
			value = r.ref(r.value(t)) // taken back with strs if the match fails
		}
		r.addData(dataRef{name: name, value: value})
		items++
	}
	hasBinary := m.opt("<Binary>")
	var bin span
	if hasBinary {
		bin = m.anyText("", "</Binary>")
	}
	m.lit("</EventData>")
	if !m.ok {
		r.nData, r.moreData, r.strs = nData, r.moreData[:nMore], r.strs[:nStrs]
		return 0, false
	}
	if items > 0 {
		r.dataName = name
	}
	if hasBinary {
		r.ev.Binary = r.value(bin)
	}
	r.eventDataClosed = true
	r.attrKind = kindOther
	return m.i, true
}

// span is character data read by sysMatch.anyText.
type span struct {
	a, b  int
	plain bool
}

// anyText is text for data that may need decoding.
func (m *sysMatch) anyText(open, close string) span {
	m.lit(open)
	if !m.ok {
		return span{}
	}
	t := span{a: m.i, plain: true}
	t.b = textStop(m.s, t.a)
	if t.b < len(m.s) && m.s[t.b] != '<' {
		t.plain = false
		if j := strings.IndexByte(m.s[t.b:], '<'); j >= 0 {
			t.b += j
		} else {
			t.b = len(m.s)
		}
	}
	m.i = t.b
	m.lit(close)
	return t
}

// value is what textValue returns for one piece of character data.
func (r *run) value(t span) string {
	if t.plain {
		return r.raw[t.a:t.b]
	}
	return decoded(r.raw[t.a:t.b], false)
}

// maxFastKeywords is how many RenderingInfo keywords scanRendering takes;
// Windows writes one or two, rarely more.
const maxFastKeywords = 8

// scanRendering reads a RenderingInfo element starting at i (at
// "<RenderingInfo") as a child of Event, as Windows writes it: Culture,
// then Message, Level, Task, Opcode, Channel, Provider and Keywords, each
// a single piece of character data. It returns where the element ends, or
// ok == false having changed nothing.
func (r *run) scanRendering(i int) (end int, ok bool) {
	if r.overflow > 0 || r.depth == 0 || r.depth+3 > maxDepth || r.frames[r.depth-1].kind != kindEvent {
		return 0, false
	}
	m := sysMatch{s: r.raw, i: i, ok: true}
	m.lit("<RenderingInfo")
	hasCulture := m.opt(" Culture=")
	culture, cultureEnd := m.quotedIf(hasCulture)
	m.lit(">")
	msg := m.anyText("<Message>", "</Message>")
	level := m.anyText("<Level>", "</Level>")
	task := m.anyText("<Task>", "</Task>")
	opcode := m.anyText("<Opcode>", "</Opcode>")
	channel := m.anyText("<Channel>", "</Channel>")
	provider := m.anyText("<Provider>", "</Provider>")
	m.lit("<Keywords>")
	var kw [maxFastKeywords]span
	n := 0
	for m.opt("<Keyword>") {
		if n == len(kw) {
			m.ok = false
			break
		}
		kw[n] = m.anyText("", "</Keyword>")
		n++
	}
	m.lit("</Keywords></RenderingInfo>")
	if !m.ok {
		return 0, false
	}
	r.renderingSeen = true
	if r.ev.Rendering == nil {
		r.ev.Rendering = &Rendering{}
	}
	rd := r.ev.Rendering
	if hasCulture {
		rd.Culture = r.raw[culture:cultureEnd]
	}
	rd.Message = r.value(msg)
	rd.Level = r.value(level)
	rd.Task = r.value(task)
	rd.Opcode = r.value(opcode)
	rd.Channel = r.value(channel)
	rd.Provider = r.value(provider)
	for _, t := range kw[:n] {
		rd.Keywords = append(rd.Keywords, r.value(t))
	}
	r.attrKind = kindOther
	return m.i, true
}
