package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wefgate/wef/soap"
)

// scriptedLog has a fixed set of available records and, unlike
// StaticLog, never says it is drained (more could come), so only
// MaxItems, the envelope or MaxTime can end a batch.
type scriptedLog struct {
	mu    sync.Mutex
	recs  []Record
	waits []time.Duration
	err   error
}

func (l *scriptedLog) Read(ctx context.Context, after map[string]uint64, limit int, wait time.Duration) ([]Record, error) {
	l.mu.Lock()
	l.waits = append(l.waits, wait)
	var out []Record
	for _, r := range l.recs {
		if r.RecordID > after[r.Channel] && len(out) < limit {
			out = append(out, r)
		}
	}
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
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

func (l *scriptedLog) Drained(map[string]uint64) bool { return false }

func records(n, size int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{Channel: "Security", RecordID: uint64(i + 1), XML: make([]byte, size)}
	}
	return out
}

func TestGatherEndsBatchLikeWindows(t *testing.T) {
	tests := []struct {
		name      string
		log       Log
		first     int // records already read when the batch starts
		maxItems  int
		envelope  int
		maxTime   time.Duration
		wantCount int
	}{
		// Ten pending, MaxItems 4: the batch is full at once, whatever
		// MaxTime says.
		{name: "MaxItems", log: &scriptedLog{recs: records(10, 100)}, first: 1, maxItems: 4, envelope: 512000, maxTime: time.Hour, wantCount: 4},
		// 100 KB events in UTF-16 (200 KB each): the third overflows
		// 512000 bytes, so the batch holds two.
		{name: "MaxEnvelopeSize", log: &scriptedLog{recs: records(10, 100_000)}, first: 1, maxItems: 5000, envelope: 512000, maxTime: time.Hour, wantCount: 2},
		// Nothing more arrives: the batch goes when MaxTime has passed.
		{name: "MaxTime", log: &scriptedLog{recs: records(2, 100)}, first: 2, maxItems: 5000, envelope: 512000, maxTime: 30 * time.Millisecond, wantCount: 2},
		// A log that will never have more ends the batch at once.
		{name: "drained log", log: NewStaticLog([]string{event(1, 1, "Security"), event(1, 2, "Security")}), first: 2, maxItems: 5000, envelope: 512000, maxTime: time.Hour, wantCount: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Any batch that waited for an hour would hit this deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			h := NewHost(HostConfig{Log: tt.log})
			first, err := tt.log.Read(ctx, map[string]uint64{}, tt.first, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.gather(ctx, map[string]uint64{}, first, tt.maxItems, tt.envelope, tt.maxTime)
			if err != nil {
				t.Fatalf("gather: %v", err)
			}
			if len(got) != tt.wantCount {
				t.Fatalf("batch of %d records, want %d", len(got), tt.wantCount)
			}
			for i, r := range got {
				if r.RecordID != uint64(i+1) {
					t.Fatalf("record %d has id %d: batch out of order", i, r.RecordID)
				}
			}
			if sl, ok := tt.log.(*scriptedLog); ok {
				for _, w := range sl.waits {
					if w > tt.maxTime {
						t.Errorf("waited %v for more events, beyond MaxTime %v", w, tt.maxTime)
					}
				}
			}
		})
	}
}

// TestGeneratedLogBatchesAtSteadyRate checks the batch a host gathers
// from a log of 1,000 events/s with MaxItems 50: full batches, in order,
// each continuing where the previous one ended.
func TestGeneratedLogBatchesAtSteadyRate(t *testing.T) {
	g := &GeneratedLog{Channel: "Security", Rate: 1000, Make: func(id uint64) []byte { return []byte(event(4658, int(id), "Security")) }}
	h := NewHost(HostConfig{Log: g})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	after := map[string]uint64{}
	for range 3 {
		first, err := g.Read(ctx, after, 50, time.Minute)
		if err != nil || len(first) == 0 {
			t.Fatalf("first read: %d records, %v", len(first), err)
		}
		batch, err := h.gather(ctx, after, first, 50, 512000, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) != 50 || batch[0].RecordID != after["Security"]+1 || batch[49].RecordID != after["Security"]+50 {
			t.Fatalf("batch of %d from %d, want 50 from %d", len(batch), batch[0].RecordID, after["Security"]+1)
		}
		after["Security"] = batch[49].RecordID
	}
}

// collector is a scripted subscription manager offering subscriptions A
// and B (heartbeat every 20 ms) and recording, per delivery path, the
// client connections it came from and the actions.
type collector struct {
	mu      sync.Mutex
	remotes map[string]map[string]bool // path → remote addresses
	actions map[string]int             // path + " " + action → count
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{remotes: map[string]map[string]bool{}, actions: map[string]int{}}
	srv := scriptedCollector(func(r *http.Request, msg *soap.Message, _ []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.remotes[r.URL.Path] == nil {
			c.remotes[r.URL.Path] = map[string]bool{}
		}
		c.remotes[r.URL.Path][r.RemoteAddr] = true
		c.actions[r.URL.Path+" "+msg.Action]++
	}, func(r *http.Request) []soap.Subscription {
		var subs []soap.Subscription
		for _, id := range []string{"A", "B"} {
			subs = append(subs, soap.Subscription{
				ID: id, Version: "11111111-1111-1111-1111-111111111111", Name: id, Address: "http://" + r.Host + "/wsman/subscriptions/" + id,
				Heartbeat: 20 * time.Millisecond, MaxTime: time.Hour, MaxEnvelopeSize: 512000, Query: "<QueryList/>",
			})
		}
		return subs
	})
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *collector) count(path, action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.actions[path+" "+action]
}

// TestIdleHostHeartbeatsOnOneConnectionPerSubscription: an idle host
// sends only heartbeats, each subscription on its own kept-alive
// connection.
func TestIdleHostHeartbeatsOnOneConnectionPerSubscription(t *testing.T) {
	c, srv := newCollector(t)
	h := NewHost(HostConfig{
		MachineID: "h.example.test", ManagerURL: srv.URL + "/wsman/SubscriptionManager/WEC",
		Client: &Client{Security: plainHTTP{}}, Log: &scriptedLog{}, Refresh: time.Hour,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	for c.count("/wsman/subscriptions/A", soap.ActionHeartbeat) < 3 || c.count("/wsman/subscriptions/B", soap.ActionHeartbeat) < 3 {
		if ctx.Err() != nil {
			t.Fatal("no heartbeats on both subscriptions")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	c.mu.Lock()
	defer c.mu.Unlock()
	a, b := c.remotes["/wsman/subscriptions/A"], c.remotes["/wsman/subscriptions/B"]
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("subscription A used %d connections, B %d; want one each", len(a), len(b))
	}
	for addr := range a {
		if b[addr] {
			t.Fatal("subscriptions A and B share a connection")
		}
	}
	if n := c.actions["/wsman/subscriptions/A "+soap.ActionEvents]; n != 0 {
		t.Errorf("idle host sent %d Events batches", n)
	}
}

// TestFleetStopsEveryHostOnError: one host's log fails; Run returns its
// error (naming it) only after the other, endless hosts have stopped.
func TestFleetStopsEveryHostOnError(t *testing.T) {
	_, srv := newCollector(t)
	broken := errors.New("event log unreadable")
	var hosts []*Host
	for i, log := range []Log{&scriptedLog{}, &scriptedLog{err: broken}, &scriptedLog{}} {
		hosts = append(hosts, NewHost(HostConfig{
			MachineID: "h" + itoa(i) + ".example.test", ManagerURL: srv.URL + "/wsman/SubscriptionManager/WEC",
			Client: &Client{Security: plainHTTP{}}, Log: log, Refresh: time.Hour,
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := &Fleet{Hosts: hosts}
	err := f.Run(ctx)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "h1.example.test") {
		t.Fatalf("Run = %v, want the failing host's error", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned only at the test's deadline: the healthy hosts were not stopped")
	}
	if s := f.Stats(); s.Hosts != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		// Buckets are 1/8 of a power of two wide: the bound is within 12.5 %.
		if got < tt.want || float64(got) > float64(tt.want)*1.125 {
			t.Errorf("Quantile(%v) = %v, want %v..+12.5%%", tt.q, got, tt.want)
		}
	}
	if h.Count() != 1000 {
		t.Errorf("Count = %d", h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

// TestReplayResendsBuiltBatches: a replaying host builds and compresses
// the events of its first batch of a size once and sends them again after
// a header built for each batch (own MessageID, the batch's bookmark), each
// send still going through the connection's sealer; a second host sharing
// the Bodies sends the same events under its own MachineID.
func TestReplayResendsBuiltBatches(t *testing.T) {
	type sent struct {
		machine, messageID, bookmark string
		events                       []string
		body                         []byte
	}
	var (
		mu     sync.Mutex
		bodies []sent
	)
	srv := scriptedCollector(func(r *http.Request, msg *soap.Message, body []byte) {
		if msg.Action == soap.ActionEvents {
			s := sent{machine: msg.MachineID, messageID: msg.MessageID, bookmark: msg.Bookmark, body: body}
			for _, e := range msg.Events {
				s.events = append(s.events, string(e))
			}
			mu.Lock()
			bodies = append(bodies, s)
			mu.Unlock()
		}
	}, func(r *http.Request) []soap.Subscription {
		return []soap.Subscription{{
			ID: "A", Version: "11111111-1111-1111-1111-111111111111", Name: "A", Address: "http://" + r.Host + "/wsman/subscriptions/A",
			Heartbeat: time.Hour, MaxTime: time.Hour, MaxElements: 4, MaxEnvelopeSize: 512000, Query: "<QueryList/>", Compression: "SLDC",
		}}
	})
	defer srv.Close()
	var compressions, seals atomic.Int32
	shared := &Bodies{}
	run := func(machine string, eventID int) *Host {
		g := &GeneratedLog{Channel: "Security", Total: 16, Make: func(id uint64) []byte { return []byte(event(eventID, int(id), "Security")) }}
		h := NewHost(HostConfig{
			MachineID: machine, ManagerURL: srv.URL + "/wsman/SubscriptionManager/WEC",
			Client: &Client{Security: countingSecurity{seals: &seals}, Compress: func(b []byte) []byte { compressions.Add(1); return b }},
			Log:    g, Refresh: time.Hour, StopWhenDrained: true, Replay: true, Bodies: shared,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return h
	}
	h1 := run("one.example.test", 4658)
	h2 := run("two.example.test", 4690)
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 8 || h1.Stats.EventsAcked.Load() != 16 || h2.Stats.EventsAcked.Load() != 16 {
		t.Fatalf("%d batches, %d+%d events acknowledged; want 8 batches, 16+16", len(bodies), h1.Stats.EventsAcked.Load(), h2.Stats.EventsAcked.Load())
	}
	part := shared.m[bodyKey{"A", 4, true}]
	if len(shared.m) != 1 || part == nil {
		t.Fatalf("%d stored bodies, want one for 4 events, compressed", len(shared.m))
	}
	ids := map[string]bool{}
	for i, b := range bodies {
		want := "one.example.test"
		if i >= 4 {
			want = "two.example.test"
		}
		if b.machine != want {
			t.Errorf("batch %d: MachineID %q, want %q", i, b.machine, want)
		}
		if !slices.Equal(b.events, bodies[0].events) || !bytes.Contains(b.body, part.bytes) {
			t.Errorf("batch %d does not carry the stored events", i)
		}
		wantBookmark := fmt.Sprintf(`RecordId="%d"`, 4*(i%4+1))
		if !strings.Contains(b.bookmark, wantBookmark) {
			t.Errorf("batch %d: bookmark %s, want %s", i, b.bookmark, wantBookmark)
		}
		ids[b.messageID] = true
	}
	if len(ids) != len(bodies) {
		t.Errorf("%d MessageIDs for %d batches: each batch needs its own", len(ids), len(bodies))
	}
	// Replayed bodies are compressed as sldc segments, never whole.
	if n := compressions.Load(); n != 0 {
		t.Errorf("Client.Compress called %d times in replay, want none", n)
	}
	if n := seals.Load(); n < 8 {
		t.Errorf("sealed %d messages; every batch must be sealed", n)
	}
}

// countingSecurity is plainHTTP counting the messages it seals.
type countingSecurity struct{ seals *atomic.Int32 }

func (s countingSecurity) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	return plainHTTP{}.Dial(ctx, u)
}

func (s countingSecurity) Handshake(context.Context, *Conn, *url.URL) (Sealer, error) {
	return countingSealer(s), nil
}

type countingSealer struct{ seals *atomic.Int32 }

func (s countingSealer) Seal(b []byte) (string, []byte, error) {
	s.seals.Add(1)
	return soap.ContentType, b, nil
}

func (countingSealer) Open(_ string, b []byte) ([]byte, error) { return b, nil }

// TestGatherSleepsUntilTheBatchIsFull: with a log that knows its arrival
// times, a batch of MaxItems is sent when its last event arrives, not at
// MaxTime, and in one piece.
func TestGatherSleepsUntilTheBatchIsFull(t *testing.T) {
	g := &GeneratedLog{Channel: "Security", Rate: 200, Make: func(id uint64) []byte { return []byte(event(4658, int(id), "Security")) }}
	h := NewHost(HostConfig{Log: g})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := g.Read(ctx, map[string]uint64{}, 8, time.Minute)
	if err != nil || len(first) == 0 {
		t.Fatalf("first read: %d, %v", len(first), err)
	}
	batch, err := h.gather(ctx, map[string]uint64{}, first, 8, 512000, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 8 || batch[7].RecordID != 8 {
		t.Fatalf("batch of %d records, want records 1..8", len(batch))
	}
	if ctx.Err() != nil {
		t.Fatal("gather waited for MaxTime instead of the eighth event")
	}
	// Capped at Total: the arrival of the last record, then Drained.
	g2 := &GeneratedLog{Channel: "Security", Rate: 200, Total: 3, Make: g.Make}
	if at, ok := g2.ArrivalOf(map[string]uint64{}, 100); !ok || at.Sub(g2.start) != 15*time.Millisecond {
		t.Errorf("ArrivalOf beyond Total = %v, %v; want the third event's time", at.Sub(g2.start), ok)
	}
}

func TestReplaySize(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{1, 1}, {4, 4}, {5, 4}, {7, 6}, {11, 8}, {12, 12}, {15, 12}, {16, 16}, {23, 16}, {24, 24}, {196, 192}, {255, 192}, {5000, 4096}} {
		if got := replaySize(tt.n); got != tt.want {
			t.Errorf("replaySize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}
