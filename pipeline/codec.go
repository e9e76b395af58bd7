package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"wefgate/wef/event"
)

// Spool encoding of a Delivery. Each event is stored as its original XML
// (Event.Raw, the source of truth, which the mapping hashes and may export)
// and the fields the endpoint parsed from it, so that the shipper does not
// parse the XML a second time (once per exporter). Version 1, the XML
// alone, is still read: its events are parsed on the way out.
//
//	version(1)=2
//	Identity, MachineID, Address, Subscription, SubscriptionID,
//	SubscriptionVersion: uvarint length + bytes each (a "string")
//	Received: uvarint flags (1 = set) [+ varint Unix nanoseconds, UTC]
//	event count: uvarint; then per event:
//	  Raw, Provider.Name, Provider.GUID, Provider.EventSourceName,
//	  KeywordsRaw, SystemTime, ActivityID, RelatedActivityID, Channel,
//	  Computer, UserID, Binary, UserData: strings
//	  EventID, Qualifiers, Version, Level, Task, Opcode, Keywords,
//	  RecordID, Execution.ProcessID, Execution.ThreadID: uvarints
//	  flags: uvarint (eventHas* bits)
//	  [TimeCreated: varint Unix seconds, uvarint nanoseconds, UTC]
//	  EventData: uvarint count, then Name, Value strings per item
//	  [Rendering: Culture, Message, Level, Task, Opcode, Channel,
//	   Provider strings, uvarint count + Keywords strings]
//	  [Problem: Kind, Message strings]
//
// A field added to event.Event needs a new version here;
// TestDeliveryCarriesEveryEventField fails until then.
const (
	deliveryCodecV1 byte = 1
	deliveryCodecV2 byte = 2
)

// Flags of a version 2 event.
const (
	eventHasQualifiers = 1 << iota
	eventHasRecordID
	eventHasProcessID
	eventHasTime
	eventHasRendering
	eventHasProblem
	eventFlagsKnown = 1<<iota - 1
)

// ErrBadDelivery is returned by DecodeDelivery for bytes that are not a
// delivery this version can read.
var ErrBadDelivery = errors.New("pipeline: undecodable spooled delivery")

// ParseFunc turns the raw XML of one event into an Event; event.Parse is
// the production one. It must not keep a reference to raw, which aliases
// the spool's read buffer.
type ParseFunc func(raw []byte) *event.Event

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendDelivery appends the encoding of d to dst and returns the result.
func AppendDelivery(dst []byte, d *Delivery) []byte {
	dst = appendHeader(dst, deliveryCodecV2, d)
	for _, ev := range d.Events {
		dst = appendEvent(dst, ev)
	}
	return dst
}

// appendHeader appends what every codec version starts with: the version,
// the Source and the number of events.
func appendHeader(dst []byte, version byte, d *Delivery) []byte {
	dst = append(dst, version)
	for _, s := range [...]string{
		d.Source.Identity, d.Source.MachineID, d.Source.Address,
		d.Source.Subscription, d.Source.SubscriptionID, d.Source.SubscriptionVersion,
	} {
		dst = appendString(dst, s)
	}
	if d.Source.Received.IsZero() {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, 1)
		dst = binary.AppendVarint(dst, d.Source.Received.UnixNano())
	}
	return binary.AppendUvarint(dst, uint64(len(d.Events)))
}

func appendEvent(dst []byte, ev *event.Event) []byte {
	for _, s := range [...]string{
		ev.Raw, ev.Provider.Name, ev.Provider.GUID, ev.Provider.EventSourceName,
		ev.KeywordsRaw, ev.SystemTime, ev.ActivityID, ev.RelatedActivityID, ev.Channel,
		ev.Computer, ev.UserID, ev.Binary, ev.UserData,
	} {
		dst = appendString(dst, s)
	}
	for _, n := range [...]uint64{
		uint64(ev.EventID), uint64(ev.Qualifiers), uint64(ev.Version), uint64(ev.Level),
		uint64(ev.Task), uint64(ev.Opcode), ev.Keywords, ev.RecordID,
		uint64(ev.Execution.ProcessID), uint64(ev.Execution.ThreadID),
	} {
		dst = binary.AppendUvarint(dst, n)
	}
	var flags uint64
	for _, f := range [...]struct {
		set bool
		bit uint64
	}{
		{ev.HasQualifiers, eventHasQualifiers}, {ev.HasRecordID, eventHasRecordID},
		{ev.Execution.HasProcessID, eventHasProcessID}, {!ev.TimeCreated.IsZero(), eventHasTime},
		{ev.Rendering != nil, eventHasRendering}, {ev.Problem != nil, eventHasProblem},
	} {
		if f.set {
			flags |= f.bit
		}
	}
	dst = binary.AppendUvarint(dst, flags)
	if flags&eventHasTime != 0 {
		dst = binary.AppendVarint(dst, ev.TimeCreated.Unix())
		dst = binary.AppendUvarint(dst, uint64(ev.TimeCreated.Nanosecond()))
	}
	dst = binary.AppendUvarint(dst, uint64(len(ev.EventData)))
	for _, d := range ev.EventData {
		dst = appendString(dst, d.Name)
		dst = appendString(dst, d.Value)
	}
	if r := ev.Rendering; r != nil {
		for _, s := range [...]string{r.Culture, r.Message, r.Level, r.Task, r.Opcode, r.Channel, r.Provider} {
			dst = appendString(dst, s)
		}
		dst = binary.AppendUvarint(dst, uint64(len(r.Keywords)))
		for _, k := range r.Keywords {
			dst = appendString(dst, k)
		}
	}
	if p := ev.Problem; p != nil {
		dst = appendString(dst, string(p.Kind))
		dst = appendString(dst, p.Message)
	}
	return dst
}

// EncodedSize returns an upper bound of the encoded size of d, for sizing
// buffers.
func EncodedSize(d *Delivery) int {
	const v = binary.MaxVarintLen64
	n := 1 + 6*v + 2*v + v
	n += len(d.Source.Identity) + len(d.Source.MachineID) + len(d.Source.Address) +
		len(d.Source.Subscription) + len(d.Source.SubscriptionID) + len(d.Source.SubscriptionVersion)
	for _, ev := range d.Events {
		n += 13*v + 10*v + v + 2*v + v + len(ev.Raw) + len(ev.Provider.Name) + len(ev.Provider.GUID) +
			len(ev.Provider.EventSourceName) + len(ev.KeywordsRaw) + len(ev.SystemTime) + len(ev.ActivityID) +
			len(ev.RelatedActivityID) + len(ev.Channel) + len(ev.Computer) + len(ev.UserID) + len(ev.Binary) + len(ev.UserData)
		for _, d := range ev.EventData {
			n += 2*v + len(d.Name) + len(d.Value)
		}
		if r := ev.Rendering; r != nil {
			n += 8*v + len(r.Culture) + len(r.Message) + len(r.Level) + len(r.Task) + len(r.Opcode) + len(r.Channel) + len(r.Provider)
			for _, k := range r.Keywords {
				n += v + len(k)
			}
		}
		if p := ev.Problem; p != nil {
			n += 2*v + len(p.Kind) + len(p.Message)
		}
	}
	return n
}

// EncodeDelivery returns the spool encoding of d.
func EncodeDelivery(d *Delivery) []byte {
	return AppendDelivery(make([]byte, 0, EncodedSize(d)), d)
}

// DecodeDelivery decodes b. Events of a version 1 delivery are parsed
// with parse (event.Parse when nil); those of version 2 carry their fields.
// The decoded strings share one copy of b, so b may be reused afterwards.
func DecodeDelivery(b []byte, parse ParseFunc) (*Delivery, error) {
	return decodeDelivery(b, parse, false)
}

// decodeDelivery is DecodeDelivery; with owned, b is the caller's to give
// away (a spool Entry's Payload, which the spool keeps no reference to and
// nobody changes afterwards): the strings of a version 2 delivery then
// share b itself rather than a copy of it.
func decodeDelivery(b []byte, parse ParseFunc, owned bool) (*Delivery, error) {
	if parse == nil {
		parse = event.Parse
	}
	dec := decoder{b: b}
	v := dec.byte()
	if dec.err == nil && v != deliveryCodecV1 && v != deliveryCodecV2 {
		return nil, fmt.Errorf("%w: version %d", ErrBadDelivery, v)
	}
	if v == deliveryCodecV2 {
		// One copy backs every string of the delivery: b itself when owned.
		dec.total = len(b)
		if owned {
			dec.src = unsafe.String(unsafe.SliceData(b), len(b))
		} else {
			dec.src = string(b)
		}
	}
	d := &Delivery{}
	for _, dst := range [...]*string{
		&d.Source.Identity, &d.Source.MachineID, &d.Source.Address,
		&d.Source.Subscription, &d.Source.SubscriptionID, &d.Source.SubscriptionVersion,
	} {
		*dst = dec.string()
	}
	switch flags := dec.uvarint(); flags {
	case 0:
	case 1:
		d.Source.Received = time.Unix(0, dec.varint()).UTC()
	default:
		dec.fail("received flags %d", flags)
	}
	count := dec.uvarint()
	// Every event takes at least its one-byte length: a count beyond the
	// bytes left is corrupt, and must not size an allocation.
	if dec.err == nil && count > uint64(len(dec.b)) {
		dec.fail("%d events in %d bytes", count, len(dec.b))
	}
	if dec.err == nil && count > 0 {
		d.Events = make([]*event.Event, 0, count)
		for i := uint64(0); i < count && dec.err == nil; i++ {
			if v == deliveryCodecV2 {
				if len(dec.events) == 0 {
					// Events are allocated in slabs rather than one by one;
					// the slab is bounded so that a corrupt count cannot
					// size a large allocation.
					dec.events = make([]event.Event, min(count-i, eventSlab))
				}
				dec.left = int(count - i)
				ev := &dec.events[0]
				dec.events = dec.events[1:]
				if dec.event(ev); dec.err == nil {
					d.Events = append(d.Events, ev)
				}
				continue
			}
			raw := dec.bytes()
			if dec.err == nil {
				// ParseFunc implementations keep no reference to their input
				// (event.Parse copies it once), so raw is passed as it is.
				d.Events = append(d.Events, parse(raw))
			}
		}
	}
	if dec.err == nil && len(dec.b) > 0 {
		dec.fail("%d trailing bytes", len(dec.b))
	}
	if dec.err != nil {
		return nil, dec.err
	}
	return d, nil
}

// eventSlab is the most events, and dataSlab the most EventData items,
// one allocation of the decoder holds. The events of one delivery share
// their slabs as they share the payload their strings point into, so an
// event kept (by the correlator) keeps its delivery's memory either way.
const (
	eventSlab = 64
	dataSlab  = 1024
)

// event decodes one version 2 event into ev.
func (d *decoder) event(ev *event.Event) {
	for _, dst := range [...]*string{
		&ev.Raw, &ev.Provider.Name, &ev.Provider.GUID, &ev.Provider.EventSourceName,
		&ev.KeywordsRaw, &ev.SystemTime, &ev.ActivityID, &ev.RelatedActivityID, &ev.Channel,
		&ev.Computer, &ev.UserID, &ev.Binary, &ev.UserData,
	} {
		*dst = d.string()
	}
	ev.EventID = uint32(d.uint(math.MaxUint32))
	ev.Qualifiers = uint16(d.uint(math.MaxUint16))
	ev.Version = uint8(d.uint(math.MaxUint8))
	ev.Level = uint8(d.uint(math.MaxUint8))
	ev.Task = uint16(d.uint(math.MaxUint16))
	ev.Opcode = uint8(d.uint(math.MaxUint8))
	ev.Keywords = d.uvarint()
	ev.RecordID = d.uvarint()
	ev.Execution.ProcessID = uint32(d.uint(math.MaxUint32))
	ev.Execution.ThreadID = uint32(d.uint(math.MaxUint32))
	flags := d.uvarint()
	if flags&^eventFlagsKnown != 0 {
		d.fail("event flags %#x", flags)
	}
	ev.HasQualifiers = flags&eventHasQualifiers != 0
	ev.HasRecordID = flags&eventHasRecordID != 0
	ev.Execution.HasProcessID = flags&eventHasProcessID != 0
	if flags&eventHasTime != 0 {
		sec, nsec := d.varint(), d.uint(999_999_999)
		ev.TimeCreated = time.Unix(sec, int64(nsec)).UTC()
		if d.err == nil && ev.TimeCreated.IsZero() {
			d.fail("zero time marked as set")
		}
	}
	if n := d.count(2); n > 0 {
		ev.EventData = d.data(n)
		for i := range ev.EventData {
			ev.EventData[i] = event.Data{Name: d.string(), Value: d.string()}
		}
	}
	if flags&eventHasRendering != 0 {
		r := &event.Rendering{}
		for _, dst := range [...]*string{&r.Culture, &r.Message, &r.Level, &r.Task, &r.Opcode, &r.Channel, &r.Provider} {
			*dst = d.string()
		}
		if n := d.count(1); n > 0 {
			r.Keywords = make([]string, n)
			for i := range r.Keywords {
				r.Keywords[i] = d.string()
			}
		}
		ev.Rendering = r
	}
	if flags&eventHasProblem != 0 {
		ev.Problem = &event.Problem{Kind: event.ProblemKind(d.string()), Message: d.string()}
	}
}

// data returns room for n EventData items, cut from the decoder's slab
// (capacity n, so that an append by a user cannot reach a neighbour's).
func (d *decoder) data(n int) []event.Data {
	if n > dataSlab/4 {
		return make([]event.Data, n)
	}
	if len(d.items) < n {
		// Guessed from this event for those left: exact when a delivery's
		// events are alike, as they mostly are.
		d.items = make([]event.Data, min(dataSlab, n*max(d.left, 1)))
	}
	out := d.items[:n:n]
	d.items = d.items[n:]
	return out
}

// decoder reads the primitives of the encoding; the first failure sticks
// and later reads return zero values.
type decoder struct {
	b   []byte
	err error
	// src, when set, is a copy of the whole input (total bytes long) that
	// string() slices instead of allocating.
	src   string
	total int
	// events and items are what is left of the current slabs.
	events []event.Event
	items  []event.Data
	left   int // events left to decode, this one included
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadDelivery}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad length field")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad time field")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field of %d bytes with %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// uint reads a uvarint no larger than limit.
func (d *decoder) uint(limit uint64) uint64 {
	v := d.uvarint()
	if v > limit {
		d.fail("value %d over %d", v, limit)
		return 0
	}
	return v
}

// count reads a count of items taking at least min bytes each; a count
// beyond the bytes left is corrupt and must not size an allocation.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("%d items in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	if d.src == "" {
		return string(d.bytes())
	}
	b := d.bytes()
	if d.err != nil {
		return ""
	}
	end := d.total - len(d.b)
	return d.src[end-len(b) : end]
}
