package forwarder

import (
	"bytes"
	"cmp"
	"context"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Record is one event in a simulated host's event log.
type Record struct {
	Channel  string
	RecordID uint64
	XML      []byte
}

// Log is a simulated host's event log.
type Log interface {
	// Read returns up to max records that come after the bookmark
	// (channel → last record id sent), waiting up to wait for at least one.
	Read(ctx context.Context, after map[string]uint64, max int, wait time.Duration) ([]Record, error)
	// Drained reports whether every record after the bookmark has been
	// read and no more will come.
	Drained(after map[string]uint64) bool
}

// StaticLog is a fixed list of events, for replaying files.
type StaticLog struct {
	records []Record
}

var (
	reChannel  = regexp.MustCompile(`<Channel>([^<]*)</Channel>`)
	reRecordID = regexp.MustCompile(`<EventRecordID>\s*(\d+)\s*</EventRecordID>`)
)

// NewStaticLog builds a log from event XML texts, in record-id order as
// an event log holds them (exports are sometimes newest first). An event
// without a record id, or repeating one, gets the next number after the
// previous one in its channel, so every record can be bookmarked.
func NewStaticLog(events []string) *StaticLog {
	l := &StaticLog{}
	last := map[string]uint64{}
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b string) int {
		return cmp.Compare(recordIDOf(a), recordIDOf(b))
	})
	for _, e := range events {
		x := []byte(e)
		ch := "Security"
		if m := reChannel.FindSubmatch(x); m != nil {
			ch = string(bytes.TrimSpace(m[1]))
		}
		var id uint64
		if m := reRecordID.FindSubmatch(x); m != nil {
			id, _ = strconv.ParseUint(string(m[1]), 10, 64)
		}
		if id <= last[ch] {
			id = last[ch] + 1
		}
		last[ch] = id
		l.records = append(l.records, Record{Channel: ch, RecordID: id, XML: x})
	}
	return l
}

// recordIDOf returns the EventRecordID of an event's XML, or 0.
func recordIDOf(x string) uint64 {
	m := reRecordID.FindStringSubmatch(x)
	if m == nil {
		return 0
	}
	id, _ := strconv.ParseUint(m[1], 10, 64)
	return id
}

// Len is the number of records.
func (l *StaticLog) Len() int { return len(l.records) }

// Read implements Log. A static log never waits: what it has is there.
func (l *StaticLog) Read(ctx context.Context, after map[string]uint64, max int, wait time.Duration) ([]Record, error) {
	var out []Record
	for _, r := range l.records {
		if r.RecordID > after[r.Channel] {
			out = append(out, r)
			if len(out) == max {
				break
			}
		}
	}
	if len(out) == 0 && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return out, nil
}

// Drained implements Log.
func (l *StaticLog) Drained(after map[string]uint64) bool {
	for _, r := range l.records {
		if r.RecordID > after[r.Channel] {
			return false
		}
	}
	return true
}

// GeneratedLog produces events at a steady rate, for load tests: event n
// (from 1) becomes available at start + n/rate.
type GeneratedLog struct {
	Channel string
	// Make returns the XML of the event with this record id.
	Make  func(recordID uint64) []byte
	Rate  float64
	Total uint64 // 0 means endless

	once  sync.Once
	start time.Time
}

func (g *GeneratedLog) available(now time.Time) uint64 {
	g.once.Do(func() { g.start = now })
	n := uint64(now.Sub(g.start).Seconds() * g.Rate)
	if g.Rate <= 0 {
		n = ^uint64(0)
	}
	if g.Total > 0 && n > g.Total {
		n = g.Total
	}
	return n
}

// Read implements Log. It sleeps until the next event's arrival time
// rather than polling, so thousands of idle hosts cost no CPU.
func (g *GeneratedLog) Read(ctx context.Context, after map[string]uint64, limit int, wait time.Duration) ([]Record, error) {
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next := after[g.Channel] + 1
		now := time.Now()
		if avail := g.available(now); avail >= next {
			n := min(avail-next+1, uint64(limit))
			out := make([]Record, n)
			for i := range out {
				id := next + uint64(i)
				out[i] = Record{Channel: g.Channel, RecordID: id, XML: g.Make(id)}
			}
			return out, nil
		}
		if g.Total > 0 && next > g.Total || !now.Before(deadline) {
			return nil, nil
		}
		// Event n arrives at start + n/rate.
		at := g.start.Add(time.Duration(float64(next) / g.Rate * float64(time.Second)))
		t := time.NewTimer(max(min(deadline.Sub(now), at.Sub(now)), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// ArrivalOf returns when event after+n is (or was) written: start +
// (after+n)/rate, capped at Total. A log without a rate has everything now.
func (g *GeneratedLog) ArrivalOf(after map[string]uint64, n int) (time.Time, bool) {
	now := time.Now()
	g.available(now) // sets the start
	id := after[g.Channel] + uint64(max(n, 1))
	if g.Total > 0 {
		id = min(id, g.Total)
	}
	if g.Rate <= 0 {
		return now, true
	}
	return g.start.Add(time.Duration(float64(id) / g.Rate * float64(time.Second))), true
}

// Drained implements Log.
func (g *GeneratedLog) Drained(after map[string]uint64) bool {
	return g.Total > 0 && after[g.Channel] >= g.Total
}
