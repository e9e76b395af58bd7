package pipeline

import (
	"context"
	"sort"
	"sync"
	"time"

	"wefgate/record"
	"wefgate/spool"
	"wefgate/wef/event"
)

// group is one spool entry, decoded: a delivery, or the reason it could
// not be decoded. A group the feed made is shared by the lanes and must
// not be changed once published, except for its records, which the first
// lane that exports it maps (once) for all.
type group struct {
	pos  Position
	size int // payload bytes
	// received is when the delivery was received (the time it was read
	// when it does not say).
	received time.Time
	d        *Delivery // nil when undecodable
	err      error

	once sync.Once
	recs []record.Record
}

// decodeGroup decodes one spool entry. The payload becomes the group's:
// the delivery's strings share it.
func decodeGroup(e spool.Entry, parse ParseFunc, now time.Time) *group {
	g := &group{pos: e.Pos, size: len(e.Payload), received: now}
	g.d, g.err = decodeDelivery(e.Payload, parse, true)
	if g.err == nil && !g.d.Source.Received.IsZero() {
		g.received = g.d.Source.Received
	}
	return g
}

// records returns the group's events mapped with no extra attributes, by
// mapEvents when set, else mapFn, mapping them on the first call. Safe for
// concurrent use; the records are shared and must not be changed.
func (g *group) records(mapFn MapFunc, mapEvents func(Source, []*event.Event, []record.Record)) []record.Record {
	g.once.Do(func() {
		g.recs = make([]record.Record, len(g.d.Events))
		if mapEvents != nil {
			mapEvents(g.d.Source, g.d.Events, g.recs)
			return
		}
		for i, ev := range g.d.Events {
			g.recs[i] = mapFn(g.d.Source, ev, nil)
		}
	})
	return g.recs
}

// feed reads and decodes the spool once for all lanes.
//
// A lane asks the feed for the entries after its own position. The lane
// furthest ahead reads the spool (the spool's own cursor, which holds
// nothing back) and decodes what it read into groups; the feed keeps them
// in a window that spans from the slowest lane still in it to the newest
// entry read, and the other lanes take the same groups from there: each
// entry is read, decompressed and decoded once, and with no stateful stage
// its events are mapped once. The window is bounded (entries and payload
// bytes): a lane that falls further behind, for example because its
// exporter is down, leaves it, reads the spool through its own consumer
// and decodes for itself (as if it were alone) until it reaches the window
// again. No lane ever waits for a slower one, and each lane keeps its own
// position, stage, retry and commits: the feed only saves work.
type feed struct {
	sp         *spool.Spool
	parse      ParseFunc
	maxEntries int
	maxBytes   int64

	mu sync.Mutex
	// changed is closed (and replaced) when the window grew or the lane
	// reading the spool gave up, so that lanes waiting for new entries
	// look again.
	changed   chan struct{}
	producing bool
	// The window holds every readable entry in (start, head], in order.
	start, head Position
	groups      []*group
	bytes       int64
	// positions is each lane's latest position (the last entry it took).
	positions []Position
}

func newFeed(sp *spool.Spool, parse ParseFunc, lanes, maxEntries int, maxBytes int64) *feed {
	return &feed{
		sp: sp, parse: parse, maxEntries: maxEntries, maxBytes: maxBytes,
		changed: make(chan struct{}), positions: make([]Position, lanes),
	}
}

// reset empties the window and starts it at the furthest of the lanes'
// positions: the lanes behind it read for themselves until they reach it.
func (f *feed) reset(positions []Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	copy(f.positions, positions)
	f.start = 0
	for _, p := range positions {
		f.start = max(f.start, p)
	}
	f.head, f.groups, f.bytes = f.start, nil, 0
}

// read returns groups after `after` for lane (at most maxEntries entries and,
// beyond the first, maxBytes of payload), blocking until there is one or
// ctx ends. When the lane is behind the window it returns behind > 0
// instead: the lane reads at most that many entries from the spool itself,
// which brings it to the start of the window.
func (f *feed) read(ctx context.Context, lane int, after Position, maxEntries int, maxBytes int64) (gs []*group, behind int, err error) {
	for {
		f.mu.Lock()
		f.positions[lane] = after
		if after < f.start {
			f.trimLocked()
			n := f.start - after
			f.mu.Unlock()
			return nil, int(min(n, Position(maxEntries))), nil
		}
		if gs := f.takeLocked(after, maxEntries, maxBytes); len(gs) > 0 {
			// The lane takes them all: it needs none of them again.
			f.positions[lane] = gs[len(gs)-1].pos
			f.trimLocked()
			f.mu.Unlock()
			return gs, 0, nil
		}
		// Nothing after `after` in the window: the lane needs what nobody
		// has read yet.
		if f.producing {
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		if after > f.head {
			// Ahead of the window (it read for itself past it): the
			// window moves here, and lanes behind read for themselves.
			f.start, f.head, f.groups, f.bytes = after, after, nil, 0
		}
		f.producing = true
		from := f.head
		f.mu.Unlock()

		entries, err := f.sp.ReadLimit(ctx, from, maxEntries, maxBytes)
		now := time.Now()
		added := make([]*group, len(entries))
		for i, e := range entries {
			added[i] = decodeGroup(e, f.parse, now)
		}

		f.mu.Lock()
		f.producing = false
		if len(added) > 0 && f.head == from {
			f.groups = append(f.groups, added...)
			for _, g := range added {
				f.bytes += int64(g.size)
			}
			f.head = added[len(added)-1].pos
		}
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
}

// takeLocked returns the window's groups after `after`, within the
// bounds.
func (f *feed) takeLocked(after Position, maxEntries int, maxBytes int64) []*group {
	i := sort.Search(len(f.groups), func(i int) bool { return f.groups[i].pos > after })
	var out []*group
	var size int64
	for ; i < len(f.groups) && len(out) < maxEntries; i++ {
		if len(out) > 0 && maxBytes > 0 && size >= maxBytes {
			break
		}
		out = append(out, f.groups[i])
		size += int64(f.groups[i].size)
	}
	return out
}

// trimLocked drops the groups every lane in the window has taken, then the
// oldest ones while the window is over its bounds (the lanes that still
// needed them leave the window).
func (f *feed) trimLocked() {
	low := f.head
	for _, p := range f.positions {
		if p >= f.start && p < low {
			low = p
		}
	}
	f.start = max(f.start, low)
	i := sort.Search(len(f.groups), func(i int) bool { return f.groups[i].pos > low })
	var dropped int64
	for _, g := range f.groups[:i] {
		dropped += int64(g.size)
	}
	for i < len(f.groups) && (len(f.groups)-i > f.maxEntries || f.bytes-dropped > f.maxBytes) {
		dropped += int64(f.groups[i].size)
		f.start = f.groups[i].pos
		i++
	}
	if i == 0 {
		return
	}
	f.bytes -= dropped
	clear(f.groups[:i])
	f.groups = f.groups[i:]
}
