package handles

import (
	"strings"
	"time"

	"wefgate/record"
	"wefgate/wef/event"
)

// Output is one event leaving the correlator, or one noise summary. P is
// the type of the caller's cookie (for the pipeline, the spool position and
// source of the event).
type Output[P any] struct {
	// Host is the host the event was added under.
	Host string
	// Event is the event as added; nil for a summary.
	Event *event.Event
	// Pos is the caller's cookie given to Add; the zero P for a summary.
	Pos P
	// Export is false for helper events (unless Config.ExportHelperEvents)
	// and for noise dropped under NoiseDrop.
	Export bool
	// Attributes are the enrichment attributes to append to the record's
	// own (see doc.go). Nil when Export is false.
	Attributes []record.KV
	// Summary is set on noise summary Outputs; export them as records
	// named NoiseSummaryEventName.
	Summary *NoiseSummary
}

// Stats describes the correlator's state and what it has done.
type Stats struct {
	// Current sizes.
	Handles    int // open handles known from 4656/4663
	Duplicates int // copies made by 4690s whose close has not been seen
	Processes  int
	Pending    int // events in the reorder window
	Waiting    int // of those, events still waiting for a partner
	Hosts      int // hosts with a queue; idle ones are dropped by Tick
	// StateBytes and PendingBytes are the estimated memory of the state
	// and of the reorder window (see MaxStateBytes, MaxPendingBytes).
	StateBytes   int64
	PendingBytes int64

	// Evictions: by a size bound, and by age.
	HandlesEvicted   uint64
	HandlesExpired   uint64
	ProcessesEvicted uint64
	ProcessesExpired uint64
	// PendingExpired counts events released while still waiting for a
	// partner (their window passed, or MaxPending forced them out);
	// PendingForced counts events released early because MaxPending was
	// reached, waiting or not.
	PendingExpired uint64
	PendingForced  uint64

	// Late opens (Config.LateOpenWait): LateWaiting events are now held
	// past the reorder window; LateHeld counts every event that was, and,
	// once released, LateMatched those whose open came in time and
	// LateExpired the others. LateWait is the total time released ones
	// were held past the window (the latency the extension cost, not
	// counting their host's events behind them).
	LateWaiting int
	LateHeld    uint64
	LateMatched uint64
	LateExpired uint64
	LateWait    time.Duration

	// Outcome of every released 4658, 4660 and 4690, by AttrStatus.
	Matched   uint64
	Partial   uint64
	Unmatched uint64
	// NoiseDropped counts by-product events not exported (NoiseDrop).
	NoiseDropped uint64
}

// Correlator links 4658, 4660 and 4690 events to the 4656 that opened
// their handle and to the processes involved, holding them in a short
// reorder window because Windows logs most 4690s before that 4656.
//
// Time is never read from a clock: every call that may release events
// takes now, so the correlator is deterministic for a given input.
//
// Ordering guarantee: the Outputs of one host come out in the order their
// events were added. Outputs of different hosts may overtake each other,
// so a caller committing positions must commit only what lies before
// OldestPending: every event added before the one it names has been
// returned by Add, Tick or Flush.
//
// A Correlator is not safe for concurrent use.
type Correlator[P any] struct {
	cfg Config
	seq uint64

	hosts   map[string]*hostState[P]
	pending chain[pending[P]] // in Add order, over all hosts

	// Totals over all hosts, for the bounds and Stats.
	opens, dups, procs, waiting, lateWaiting int
	stateBytes, pendingBytes                 int64

	handleAge chain[handleEntry[P]] // in insertion order, over all hosts
	procAge   chain[procEntry[P]]   // least recently seen first

	noise       noiseCounter
	lastSummary time.Time
	lastNow     time.Time

	stats Stats
}

// NewCorrelator returns a correlator bounded by cfg; zero fields take the
// Default* values.
func NewCorrelator[P any](cfg Config) *Correlator[P] {
	cfg = cfg.withDefaults()
	return &Correlator[P]{
		cfg:   cfg,
		hosts: make(map[string]*hostState[P]),
		noise: newNoiseCounter(cfg.Noise.MaxKeys),

		pending:   chain[pending[P]]{at: func(p *pending[P]) *links[pending[P]] { return &p.order }},
		handleAge: chain[handleEntry[P]]{at: func(e *handleEntry[P]) *links[handleEntry[P]] { return &e.age }},
		procAge:   chain[procEntry[P]]{at: func(e *procEntry[P]) *links[procEntry[P]] { return &e.age }},
	}
}

// Add takes one event of host at time now (the caller's clock, used only
// for windows and ages) and returns the Outputs it releases, which may
// include earlier events. pos is returned with ev's Output. Events this
// package does not use (see Kind) come back with Export set and no
// attributes, at once unless they must wait behind earlier events of their
// host.
func (c *Correlator[P]) Add(now time.Time, host string, ev *event.Event, pos P) []Output[P] {
	if ev == nil {
		return nil
	}
	c.observe(now)
	c.expireState(now)
	kind := Kind(ev)
	q := c.hosts[host]
	if kind == KindOther && (q == nil || q.len() == 0) {
		// Nothing to keep it behind: an event this package does not use
		// goes straight back.
		out := []Output[P]{{Host: host, Event: ev, Pos: pos, Export: true}}
		return c.releaseAged(now, out)
	}
	if q == nil {
		q = newHostState[P](host)
		c.hosts[host] = q
	}
	q.arrivals++
	c.seq++
	p := &pending[P]{seq: c.seq, host: q, ev: ev, pos: pos, kind: kind, added: now, arrival: q.arrivals, bytes: eventSize(ev)}
	c.pendingBytes += p.bytes
	if ev.HasRecordID {
		p.recordID, p.hasRecordID = ev.RecordID, true
		q.lastRecordID = ev.RecordID
	}
	if ev.TimeCreated.After(q.newestLogged) {
		q.newestLogged = ev.TimeCreated
	}
	q.push(p)
	c.pending.pushBack(p)
	c.apply(now, p)
	c.boundStateBytes()

	var out []Output[P]
	out = c.drain(q, now, out)
	out = c.releaseAged(now, out)
	for c.pending.n > c.cfg.MaxPending || c.pendingBytes > c.cfg.MaxPendingBytes {
		c.stats.PendingForced++
		out = c.releaseFront(now, out)
	}
	return out
}

// Tick releases what aged out by now, forgets state older than its
// maximum age, and emits noise summaries when their interval has passed.
// Call it regularly (a fraction of ReorderTime): a host that goes quiet
// releases its waiting events only through Tick or another host's Add.
func (c *Correlator[P]) Tick(now time.Time) []Output[P] {
	c.observe(now)
	c.expireState(now)
	out := c.releaseAged(now, nil)
	out = c.releaseBehindLate(now, out)
	if c.lastSummary.IsZero() {
		c.lastSummary = now
		c.noise.periodStart = now
	}
	if now.Sub(c.lastSummary) >= c.cfg.Noise.SummaryInterval {
		c.lastSummary = now
		out = append(out, summaries[P](&c.noise, c.cfg.Noise.Mode, now)...)
	}
	return out
}

// Flush releases every pending event, enriched with what is known, and the
// noise counts not yet summarised. Call it at shutdown.
func (c *Correlator[P]) Flush() []Output[P] {
	var out []Output[P]
	for c.pending.n > 0 {
		out = c.releaseFront(c.lastNow, out)
	}
	return append(out, summaries[P](&c.noise, c.cfg.Noise.Mode, c.lastNow)...)
}

// OldestPending returns the Pos of the earliest-added event not yet
// released; ok is false when nothing is pending.
func (c *Correlator[P]) OldestPending() (pos P, ok bool) {
	if p := c.pending.front; p != nil {
		return p.pos, true
	}
	return pos, false
}

// Stats returns current sizes and counters.
func (c *Correlator[P]) Stats() Stats {
	s := c.stats
	s.Handles = c.opens
	s.Duplicates = c.dups
	s.Processes = c.procs
	s.Pending = c.pending.n
	s.Waiting = c.waiting
	s.LateWaiting = c.lateWaiting
	s.Hosts = len(c.hosts)
	s.StateBytes, s.PendingBytes = c.stateBytes, c.pendingBytes
	return s
}

// NoiseCounts returns the by-product events counted since the correlator
// was created, sorted by host, image and object type.
func (c *Correlator[P]) NoiseCounts() []NoiseCount {
	return sortedCounts(c.noise.total)
}

// forgetIfIdle drops a host that holds nothing any more, so that the
// number of hosts is bounded by the state and pending bounds.
func (c *Correlator[P]) forgetIfIdle(q *hostState[P]) {
	if q.idle() && c.hosts[q.name] == q {
		delete(c.hosts, q.name)
	}
}

func (c *Correlator[P]) observe(now time.Time) {
	if now.After(c.lastNow) {
		c.lastNow = now
	}
}

// apply updates state from p's event and links p to what it refers to.
func (c *Correlator[P]) apply(now time.Time, p *pending[P]) {
	ev, q := p.ev, p.host
	switch p.kind {
	case KindHandleRequested, KindDirectoryHandleRequested, KindObjectAccessed:
		pid, okPID := dataHex(ev, "ProcessId")
		if okPID {
			c.learnProcess(now, q, pid, dataString(ev, "ProcessName"))
		}
		h, okH := dataHex(ev, "HandleId")
		// A failed request, or one logged with handle 0x0 (PlugPlay
		// security objects, for example), leaves no handle to track.
		if !okPID || !okH || h == 0 || (p.kind != KindObjectAccessed && ev.AuditFailure()) {
			return
		}
		id := handleID{pid, h}
		if p.kind == KindObjectAccessed {
			// A 4663 proves the handle is open; it stands in for a 4656
			// that was never seen, never for one that was.
			if _, known := q.opens[id]; known {
				return
			}
		}
		obj := newObject(ev, p.kind != KindObjectAccessed)
		c.putHandle(now, q, id, obj, nil)
		c.resolve(q, id, obj)

	case KindHandleClosed, KindObjectDeleted:
		pid, okPID := dataHex(ev, "ProcessId")
		h, okH := dataHex(ev, "HandleId")
		if !okPID {
			return
		}
		c.learnProcess(now, q, pid, dataString(ev, "ProcessName"))
		if !okH || h == 0 {
			return
		}
		c.linkClose(p, handleID{pid, h}, p.kind == KindHandleClosed)

	case KindHandleDuplicated:
		c.linkDuplicate(now, p)

	case KindProcessCreated:
		pid, ok := dataHex(ev, "NewProcessId")
		if !ok {
			return
		}
		e := c.learnProcess(now, q, pid, dataString(ev, "NewProcessName"))
		parent, ok := dataHex(ev, "ProcessId")
		if e == nil || !ok {
			return
		}
		e.parentPID, e.hasParent = parent, true
		c.setParentImage(e, dataString(ev, "ParentProcessName"))
		if e.parentImage != "" && e.parentImage != "-" {
			c.learnProcess(now, q, parent, e.parentImage)
		}

	case KindProcessExited:
		if pid, ok := dataHex(ev, "ProcessId"); ok {
			if e := q.procs[pid]; e != nil {
				c.removeProcess(e)
			}
		}
	}
}

func newObject(ev *event.Event, fromOpen bool) *object {
	obj := &object{
		objectType: clip(dataString(ev, "ObjectType")),
		objectName: clip(dataString(ev, "ObjectName")),
		image:      clip(dataString(ev, "ProcessName")),
	}
	if !fromOpen {
		// A 4663's AccessMask is the right used, not the rights granted.
		return obj
	}
	if m, ok := dataHex(ev, "AccessMask"); ok && m <= 0xFFFFFFFF {
		obj.mask, obj.hasMask = uint32(m), true
	}
	obj.opened = ev.TimeCreated
	obj.openRecordID, obj.hasRecordID = ev.RecordID, ev.HasRecordID
	return obj
}

// linkClose links a 4658 (closing) or 4660 to the most recent handle
// state under key: an open handle, or the copy a 4690 made.
func (c *Correlator[P]) linkClose(p *pending[P], id handleID, closing bool) {
	q := p.host
	open, dup := q.opens[id], q.dups[id]
	if open != nil && dup != nil {
		// Handle values are reused; the later of the two is the live one.
		if open.seq > dup.seq {
			dup = nil
		} else {
			open = nil
		}
	}
	switch {
	case open != nil:
		p.obj, p.link = open.obj, linkOpen
		if closing {
			c.removeHandle(open)
		}
	case dup != nil:
		p.entry, p.link = dup, linkDuplicate
		if closing {
			c.removeHandle(dup)
		}
		if dup.obj == nil {
			if src := q.opens[dup.dup.source]; src != nil {
				c.setObject(dup, src.obj)
			}
		}
		if dup.obj != nil {
			p.obj = dup.obj
			return
		}
		c.wait(p, dup.dup.source)
	}
}

// linkDuplicate records the copy a 4690 made and links the 4690 to the
// open of its source handle, waiting for it when it is not logged yet.
func (c *Correlator[P]) linkDuplicate(now time.Time, p *pending[P]) {
	ev, q := p.ev, p.host
	srcPID, ok1 := dataHex(ev, "SourceProcessId")
	srcH, ok2 := dataHex(ev, "SourceHandleId")
	tgtPID, ok3 := dataHex(ev, "TargetProcessId")
	tgtH, ok4 := dataHex(ev, "TargetHandleId")
	if ok1 {
		if e := q.procs[srcPID]; e != nil {
			p.image = e.image
			p.parentPID, p.hasParent, p.parentImage = e.parentPID, e.hasParent, e.parentImage
		}
	}
	if ok3 {
		if e := q.procs[tgtPID]; e != nil {
			p.targetImage = e.image
		}
	}
	if !ok1 || !ok2 || srcH == 0 {
		return
	}
	source := handleID{srcPID, srcH}
	if ok3 && ok4 && tgtH != 0 {
		// The close of a copy made into System is logged under the
		// source process (12,355 of 12,422 in the public OTRF captures);
		// copies made into any other process close in their target.
		closePID := tgtPID
		if tgtPID == systemPID {
			closePID = srcPID
		}
		d := &duplicate{source: source, targetPID: tgtPID, targetHandle: tgtH,
			recordID: ev.RecordID, hasRecordID: ev.HasRecordID}
		p.entry = c.putHandle(now, q, handleID{closePID, tgtH}, nil, d)
	}
	if src := q.opens[source]; src != nil {
		p.obj = src.obj
		if p.entry != nil {
			c.setObject(p.entry, src.obj)
		}
		return
	}
	c.wait(p, source)
}

func (c *Correlator[P]) wait(p *pending[P], id handleID) {
	p.waiting, p.waitKey = true, id
	p.host.waiters[id] = append(p.host.waiters[id], p)
	c.waiting++
}

func (c *Correlator[P]) unwait(p *pending[P]) {
	waiters := p.host.waiters
	ws := waiters[p.waitKey]
	for i, w := range ws {
		if w == p {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(waiters, p.waitKey)
	} else {
		waiters[p.waitKey] = ws
	}
	p.waiting = false
	c.waiting--
}

// resolve hands a newly seen open to the events waiting for it.
func (c *Correlator[P]) resolve(q *hostState[P], id handleID, obj *object) {
	ws, ok := q.waiters[id]
	if !ok {
		return
	}
	delete(q.waiters, id)
	c.waiting -= len(ws)
	for _, p := range ws {
		p.waiting = false
		p.obj = obj
		if p.entry != nil && p.entry.obj == nil {
			c.setObject(p.entry, obj)
		}
	}
}

// putHandle stores an open handle (dup nil) or a copy, replacing older
// state under the same key, and evicts the oldest entry beyond MaxHandles.
func (c *Correlator[P]) putHandle(now time.Time, q *hostState[P], id handleID, obj *object, dup *duplicate) *handleEntry[P] {
	m := q.opens
	if dup != nil {
		m = q.dups
	}
	if old := m[id]; old != nil {
		c.removeHandle(old)
	}
	for c.opens+c.dups >= c.cfg.MaxHandles {
		c.stats.HandlesEvicted++
		c.removeHandle(c.handleAge.front)
	}
	e := &handleEntry[P]{host: q, id: id, obj: obj, dup: dup, seq: c.seq, added: now}
	e.bytes = e.size()
	c.stateBytes += e.bytes
	c.handleAge.pushBack(e)
	m[id] = e
	if dup != nil {
		c.dups++
	} else {
		c.opens++
	}
	return e
}

func (c *Correlator[P]) removeHandle(e *handleEntry[P]) {
	if !e.age.linked {
		return
	}
	c.handleAge.remove(e)
	c.stateBytes -= e.bytes
	if e.dup != nil {
		delete(e.host.dups, e.id)
		c.dups--
	} else {
		delete(e.host.opens, e.id)
		c.opens--
	}
	c.forgetIfIdle(e.host)
}

// learnProcess records or refreshes the image of a process.
func (c *Correlator[P]) learnProcess(now time.Time, q *hostState[P], pid uint64, image string) *procEntry[P] {
	e := q.procs[pid]
	if image == "" || image == "-" {
		return e
	}
	if e != nil {
		if !strings.EqualFold(e.image, image) {
			// A different image under a known PID: the 4689 of the old
			// process was missed, so nothing else about it holds either.
			e.parentPID, e.hasParent = 0, false
			c.setImages(e, image, "")
		}
		e.added = now
		c.procAge.moveToBack(e)
		return e
	}
	for c.procs >= c.cfg.MaxProcesses {
		c.stats.ProcessesEvicted++
		c.removeProcess(c.procAge.front)
	}
	e = &procEntry[P]{host: q, pid: pid, image: clip(image), added: now}
	e.bytes = e.size()
	c.stateBytes += e.bytes
	c.procAge.pushBack(e)
	q.procs[pid] = e
	c.procs++
	return e
}

func (c *Correlator[P]) removeProcess(e *procEntry[P]) {
	c.procAge.remove(e)
	c.stateBytes -= e.bytes
	delete(e.host.procs, e.pid)
	c.procs--
	c.forgetIfIdle(e.host)
}

// setObject links a handle entry to its object, charging the object's
// strings to the entry.
func (c *Correlator[P]) setObject(e *handleEntry[P], obj *object) {
	e.obj = obj
	if e.age.linked {
		c.stateBytes -= e.bytes
		e.bytes = e.size()
		c.stateBytes += e.bytes
	}
}

// setImages replaces a process entry's images by copies of them.
func (c *Correlator[P]) setImages(e *procEntry[P], image, parentImage string) {
	e.image, e.parentImage = clip(image), clip(parentImage)
	c.recharge(e)
}

func (c *Correlator[P]) setParentImage(e *procEntry[P], parentImage string) {
	e.parentImage = clip(parentImage)
	c.recharge(e)
}

func (c *Correlator[P]) recharge(e *procEntry[P]) {
	c.stateBytes -= e.bytes
	e.bytes = e.size()
	c.stateBytes += e.bytes
}

// boundStateBytes evicts the oldest handle or process state, whichever
// was added first, until the state fits MaxStateBytes.
func (c *Correlator[P]) boundStateBytes() {
	for c.stateBytes > c.cfg.MaxStateBytes {
		h, p := c.handleAge.front, c.procAge.front
		switch {
		case h != nil && (p == nil || !p.added.Before(h.added)):
			c.stats.HandlesEvicted++
			c.removeHandle(h)
		case p != nil:
			c.stats.ProcessesEvicted++
			c.removeProcess(p)
		default:
			return
		}
	}
}

// expireState forgets handles and processes older than their maximum age.
func (c *Correlator[P]) expireState(now time.Time) {
	for e := c.handleAge.front; e != nil; e = c.handleAge.front {
		if now.Sub(e.added) < c.cfg.HandleMaxAge {
			break
		}
		c.stats.HandlesExpired++
		c.removeHandle(e)
	}
	for e := c.procAge.front; e != nil; e = c.procAge.front {
		if now.Sub(e.added) < c.cfg.ProcessMaxAge {
			break
		}
		c.stats.ProcessesExpired++
		c.removeProcess(e)
	}
}

// due reports whether p, waiting for a partner, has been held as long as
// allowed: the reorder window, then the late-open extension while it
// lasts (see Config.LateOpenWait).
func (c *Correlator[P]) due(q *hostState[P], p *pending[P], now time.Time) bool {
	if !c.windowPassed(q, p, now) {
		return false
	}
	wait := c.cfg.LateOpenWait
	if wait <= c.cfg.ReorderTime {
		return true
	}
	over := now.Sub(p.added) >= wait ||
		(!p.ev.TimeCreated.IsZero() && q.newestLogged.Sub(p.ev.TimeCreated) >= wait) ||
		2*c.pending.n >= c.cfg.MaxPending || 2*c.pendingBytes >= c.cfg.MaxPendingBytes
	if !p.late {
		// The window passed by time at added+ReorderTime, or by records at
		// the latest now; the extension is counted from there.
		since := p.added.Add(c.cfg.ReorderTime)
		if now.Before(since) {
			since = now
		}
		if over && !now.After(since) {
			return true // not held past the window at all
		}
		p.late, p.lateSince = true, since
		c.lateWaiting++
		c.stats.LateHeld++
	}
	return over
}

// windowPassed reports whether p has been held as long as the reorder
// window allows.
func (c *Correlator[P]) windowPassed(q *hostState[P], p *pending[P], now time.Time) bool {
	hold := uint64(c.cfg.ReorderRecords)
	// The newest record id, not the largest: after a log clear ids start
	// again from 1 and must not make every waiting event look ancient.
	return q.arrivals-p.arrival >= hold ||
		(p.hasRecordID && q.lastRecordID >= p.recordID+hold) ||
		now.Sub(p.added) >= c.cfg.ReorderTime
}

// drain releases q's events from the front while they are resolved or
// their window has passed.
func (c *Correlator[P]) drain(q *hostState[P], now time.Time, out []Output[P]) []Output[P] {
	for p := q.front(); p != nil; p = q.front() {
		if p.waiting && !c.due(q, p, now) {
			break
		}
		out = c.release(p, now, out)
	}
	return out
}

// releaseAged releases events held for ReorderTime, oldest first, up to an
// event held on for a late open.
func (c *Correlator[P]) releaseAged(now time.Time, out []Output[P]) []Output[P] {
	for p := c.pending.front; p != nil; p = c.pending.front {
		if now.Sub(p.added) < c.cfg.ReorderTime || p.waiting && !c.due(p.host, p, now) {
			break
		}
		out = c.releaseFront(now, out)
	}
	return out
}

// releaseBehindLate drains the hosts whose oldest event is older than
// ReorderTime but lies behind another host's event held for a late open,
// which releaseAged stops at. Only Tick pays for this walk: Add drains its
// own host, and a quiet host is released here.
func (c *Correlator[P]) releaseBehindLate(now time.Time, out []Output[P]) []Output[P] {
	first := c.pending.front
	if first == nil || !first.late {
		return out
	}
	var fronts []*pending[P]
	for p := first; p != nil && now.Sub(p.added) >= c.cfg.ReorderTime; p = p.order.next {
		if p.host.front() == p && p.host != first.host {
			fronts = append(fronts, p)
		}
	}
	for _, p := range fronts {
		// An earlier drain in this loop may have released it already.
		if p.order.linked && p.host.front() == p {
			out = c.drain(p.host, now, out)
		}
	}
	return out
}

// releaseFront releases the oldest pending event, whatever its state, and
// whatever its host can release after it.
func (c *Correlator[P]) releaseFront(now time.Time, out []Output[P]) []Output[P] {
	p := c.pending.front
	// The oldest pending event overall is necessarily its host's front.
	out = c.release(p, now, out)
	return c.drain(p.host, now, out)
}

// release takes p, the front of its host queue, out of the window at now.
func (c *Correlator[P]) release(p *pending[P], now time.Time, out []Output[P]) []Output[P] {
	q := p.host
	q.pop()
	c.pending.remove(p)
	c.pendingBytes -= p.bytes
	if p.late {
		c.lateWaiting--
		c.stats.LateWait += max(now.Sub(p.lateSince), 0) // Flush may use an older now
		if p.waiting {
			c.stats.LateExpired++
		} else {
			c.stats.LateMatched++
		}
	}
	if p.waiting {
		c.stats.PendingExpired++
		c.unwait(p)
	}
	out = append(out, c.output(p))
	c.forgetIfIdle(q)
	return out
}
