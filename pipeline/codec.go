package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"wefgate/wef/event"
)

// Spool encoding of a Delivery. Events are stored as their original XML
// (Event.Raw): it is the source of truth, smaller than any re-serialisation
// of the parsed fields, and re-parsing on the way out means a parser fix
// applies to what is still spooled.
//
//	version(1)=1
//	Identity, MachineID, Address, Subscription, SubscriptionID,
//	SubscriptionVersion: uvarint length + bytes each
//	Received: uvarint flags (1 = set) [+ varint Unix nanoseconds, UTC]
//	event count: uvarint; then per event: uvarint length + raw XML
const deliveryCodecV1 byte = 1

// ErrBadDelivery is returned by DecodeDelivery for bytes that are not a
// delivery this version can read.
var ErrBadDelivery = errors.New("pipeline: undecodable spooled delivery")

// ParseFunc turns the raw XML of one event into an Event; event.Parse is
// the production one. It must not keep a reference to raw, which aliases
// the spool's read buffer.
type ParseFunc func(raw []byte) *event.Event

// AppendDelivery appends the encoding of d to dst and returns the result.
func AppendDelivery(dst []byte, d *Delivery) []byte {
	dst = append(dst, deliveryCodecV1)
	for _, s := range [...]string{
		d.Source.Identity, d.Source.MachineID, d.Source.Address,
		d.Source.Subscription, d.Source.SubscriptionID, d.Source.SubscriptionVersion,
	} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	if d.Source.Received.IsZero() {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, 1)
		dst = binary.AppendVarint(dst, d.Source.Received.UnixNano())
	}
	dst = binary.AppendUvarint(dst, uint64(len(d.Events)))
	for _, ev := range d.Events {
		dst = binary.AppendUvarint(dst, uint64(len(ev.Raw)))
		dst = append(dst, ev.Raw...)
	}
	return dst
}

// EncodedSize returns an upper bound of the encoded size of d, for sizing
// buffers.
func EncodedSize(d *Delivery) int {
	n := 1 + 6*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen64
	n += len(d.Source.Identity) + len(d.Source.MachineID) + len(d.Source.Address) +
		len(d.Source.Subscription) + len(d.Source.SubscriptionID) + len(d.Source.SubscriptionVersion)
	for _, ev := range d.Events {
		n += binary.MaxVarintLen64 + len(ev.Raw)
	}
	return n
}

// EncodeDelivery returns the spool encoding of d.
func EncodeDelivery(d *Delivery) []byte {
	return AppendDelivery(make([]byte, 0, EncodedSize(d)), d)
}

// DecodeDelivery decodes b, parsing every event with parse (event.Parse
// when nil). The events' XML is copied out of b.
func DecodeDelivery(b []byte, parse ParseFunc) (*Delivery, error) {
	if parse == nil {
		parse = event.Parse
	}
	dec := decoder{b: b}
	if v := dec.byte(); dec.err == nil && v != deliveryCodecV1 {
		return nil, fmt.Errorf("%w: version %d", ErrBadDelivery, v)
	}
	d := &Delivery{}
	for _, dst := range [...]*string{
		&d.Source.Identity, &d.Source.MachineID, &d.Source.Address,
		&d.Source.Subscription, &d.Source.SubscriptionID, &d.Source.SubscriptionVersion,
	} {
		*dst = string(dec.bytes())
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

// decoder reads the primitives of the encoding; the first failure sticks
// and later reads return zero values.
type decoder struct {
	b   []byte
	err error
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
