package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wefgate/record"
	"wefgate/spool"
	"wefgate/wef/event"
)

// fakeExporter records what it confirmed. fail, when set, decides per
// attempt whether to fail; delay slows every attempt.
type fakeExporter struct {
	name  string
	delay time.Duration

	mu       sync.Mutex
	fail     func(attempt int) bool
	attempts int
	got      []string // the event XML of confirmed records, in order
}

func (f *fakeExporter) Name() string { return f.name }

func (f *fakeExporter) Export(ctx context.Context, recs []record.Record) error {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.fail != nil && f.fail(f.attempts) {
		return fmt.Errorf("%s: backend unavailable", f.name)
	}
	for _, r := range recs {
		f.got = append(f.got, r.Body["raw"].(string))
	}
	return nil
}

func (f *fakeExporter) Close(context.Context) error { return nil }

func (f *fakeExporter) setFail(fn func(int) bool) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *fakeExporter) records() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func testMap(src Source, ev *event.Event, extra []record.KV) record.Record {
	return record.Record{
		Observed:   src.Received,
		HostName:   src.Identity,
		Body:       map[string]any{"raw": ev.Raw},
		Attributes: extra,
	}
}

func eventName(i int) string { return "ev-" + strconv.Itoa(i) }

// spoolDeliveries accepts `deliveries` deliveries of `per` events through
// a SpoolSink, numbering events from first.
func spoolDeliveries(t *testing.T, sink Sink, first, deliveries, per int) {
	t.Helper()
	n := first
	for i := 0; i < deliveries; i++ {
		d := &Delivery{Source: Source{Identity: "ws01", Received: time.Now()}}
		for j := 0; j < per; j++ {
			d.Events = append(d.Events, &event.Event{Raw: eventName(n)})
			n++
		}
		if err := sink.Accept(context.Background(), d); err != nil {
			t.Fatalf("Accept: %v", err)
		}
	}
}

// openSpool opens a spool in dir; without Consumers in opts it has one,
// "out", the name most tests give their exporter.
func openSpool(t *testing.T, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	if opts.Consumers == nil {
		opts.Consumers = []string{"out"}
	}
	sp, err := spool.Open(dir, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func fastOptions() ShipperOptions {
	return ShipperOptions{
		MaxBatchRecords: 7,
		ReadEntries:     3,
		TickInterval:    10 * time.Millisecond,
		MinBackoff:      time.Millisecond,
		MaxBackoff:      5 * time.Millisecond,
		FinalTimeout:    time.Second,
		CommitInterval:  time.Millisecond,
		Linger:          time.Millisecond,
		Parse:           rawParse,
	}
}

// runShipper starts sh and returns a stop function that cancels it and
// returns Run's result.
func runShipper(t *testing.T, sh *Shipper) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantInOrder(t *testing.T, got []string, first, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, g := range got {
		if g != eventName(first+i) {
			t.Fatalf("record %d is %s, want %s", i, g, eventName(first+i))
		}
	}
}

func TestShipperDeliversInOrderToEveryExporter(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{Consumers: []string{"a", "b"}})
	sink := NewSpoolSink(sp)
	// What the spool holds before the shipper starts is shipped first.
	spoolDeliveries(t, sink, 0, 10, 5)
	a, b := &fakeExporter{name: "a"}, &fakeExporter{name: "b", delay: time.Millisecond}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{a, b}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	spoolDeliveries(t, sink, 50, 10, 5)
	waitFor(t, "20 committed deliveries", func() bool { return sp.Stats().Committed == 20 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantInOrder(t, a.records(), 0, 100)
	wantInOrder(t, b.records(), 0, 100)
	if st := sh.Stats(); st.ExportedRecords != 100 || st.PendingEntries != 0 || st.Lag != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShipperRetriesThroughOutageWithoutLoss(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{Consumers: []string{"healthy", "down"}})
	sink := NewSpoolSink(sp)
	healthy := &fakeExporter{name: "healthy"}
	down := &fakeExporter{name: "down"}
	down.setFail(func(int) bool { return true })
	sh, err := NewShipper(sp, nil, testMap, []Exporter{healthy, down}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runShipper(t, sh)
	spoolDeliveries(t, sink, 0, 6, 4)

	waitFor(t, "several retries", func() bool { return sh.Stats().Retries >= 5 })
	// The down exporter holds its own position back, not the healthy one's.
	waitFor(t, "the healthy exporter to commit everything", func() bool { return exporterStats(sh, "healthy").Committed == 6 })
	wantInOrder(t, healthy.records(), 0, 24)
	// What the down exporter has not confirmed stays in the spool.
	if st := sh.Stats(); st.Committed != 0 || st.FailingExporters != 1 || st.Lag <= 0 {
		t.Fatalf("during the outage: %+v", st)
	}
	if st := exporterStats(sh, "down"); !st.Failing || st.Committed != 0 || st.PendingEntries != 6 || st.LastError == "" || st.Lag <= 0 {
		t.Fatalf("down exporter during the outage: %+v", st)
	}
	if st := exporterStats(sh, "healthy"); st.Failing || st.PendingEntries != 0 || st.ExportedRecords != 24 {
		t.Fatalf("healthy exporter during the outage: %+v", st)
	}
	// Forwarders keep being acknowledged into the spool meanwhile, and the
	// healthy exporter keeps receiving them.
	spoolDeliveries(t, sink, 24, 4, 4)
	waitFor(t, "the healthy exporter to go on", func() bool { return len(healthy.records()) == 40 })

	down.setFail(nil)
	waitFor(t, "everything committed", func() bool { return sp.Stats().Committed == 10 })
	wantInOrder(t, down.records(), 0, 40)
	wantInOrder(t, healthy.records(), 0, 40)
	if st := sh.Stats(); st.FailingExporters != 0 {
		t.Fatalf("after the outage: %+v", st)
	}
}

func TestShipperRestartResumesFromCommitted(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{Consumers: []string{"out"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := NewSpoolSink(sp)
	spoolDeliveries(t, sink, 0, 20, 5)

	// The first run's backend goes down after 4 exports and stays down.
	first := &fakeExporter{name: "out"}
	first.setFail(func(attempt int) bool { return attempt > 4 })
	opts := fastOptions()
	opts.FinalTimeout = 20 * time.Millisecond
	sh, err := NewShipper(sp, nil, testMap, []Exporter{first}, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	waitFor(t, "the outage", func() bool { return sh.Stats().Retries > 0 })
	if err := stop(); err == nil {
		t.Fatal("Run returned nil although records were left unconfirmed")
	}
	committed := sp.Stats().Committed
	if committed == 0 || committed >= 20 {
		t.Fatalf("first run committed %d, want some but not all of 20", committed)
	}
	sp.Close()

	sp = openSpool(t, dir, spool.Options{})
	second := &fakeExporter{name: "out"}
	sh, err = NewShipper(sp, nil, testMap, []Exporter{second}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runShipper(t, sh)
	waitFor(t, "everything committed", func() bool { return sp.Stats().Committed == 20 })
	// The second run starts right after the committed position.
	wantInOrder(t, second.records(), int(committed)*5, 100-int(committed)*5)
	// Together nothing is missing; the overlap is the at-least-once part.
	all := map[string]bool{}
	for _, g := range append(first.records(), second.records()...) {
		all[g] = true
	}
	for i := 0; i < 100; i++ {
		if !all[eventName(i)] {
			t.Fatalf("%s was never exported", eventName(i))
		}
	}
}

// holdingStage holds every event for `hold`, releasing in arrival order.
type holdingStage struct {
	hold time.Duration
	held []heldEvent
}

type heldEvent struct {
	at time.Time
	st Staged
}

func (h *holdingStage) Add(now time.Time, src Source, ev *event.Event, pos Position) []Staged {
	h.held = append(h.held, heldEvent{at: now, st: Staged{Source: src, Event: ev, Pos: pos, Export: true,
		Attributes: []record.KV{{Key: "held", Value: true}}}})
	return h.Tick(now)
}

func (h *holdingStage) Tick(now time.Time) []Staged {
	var out []Staged
	for len(h.held) > 0 && now.Sub(h.held[0].at) >= h.hold {
		out = append(out, h.held[0].st)
		h.held = h.held[1:]
	}
	return out
}

func (h *holdingStage) Flush() []Staged {
	var out []Staged
	for _, e := range h.held {
		out = append(out, e.st)
	}
	h.held = nil
	return out
}

func (h *holdingStage) OldestPending() (Position, bool) {
	if len(h.held) == 0 {
		return 0, false
	}
	return h.held[0].st.Pos, true
}

// lockedStage lets the test look at the stage while the shipper runs.
type lockedStage struct {
	mu sync.Mutex
	s  Stage
}

func (l *lockedStage) Add(now time.Time, src Source, ev *event.Event, pos Position) []Staged {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Add(now, src, ev, pos)
}
func (l *lockedStage) Tick(now time.Time) []Staged {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Tick(now)
}
func (l *lockedStage) Flush() []Staged {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Flush()
}
func (l *lockedStage) OldestPending() (Position, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.OldestPending()
}

func TestShipperCommitsBelowHeldEvents(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{})
	sink := NewSpoolSink(sp)
	stage := &lockedStage{s: &holdingStage{hold: 300 * time.Millisecond}}
	out := &fakeExporter{name: "out"}
	sh, err := NewShipper(sp, func(string) Stage { return stage }, testMap, []Exporter{out}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	spoolDeliveries(t, sink, 0, 3, 2)
	waitFor(t, "the shipper to take the deliveries", func() bool {
		_, held := stage.OldestPending()
		return held
	})
	// While the stage holds an event of delivery p, nothing from p on may
	// be committed.
	for i := 0; i < 20; i++ {
		if oldest, held := stage.OldestPending(); held && sp.Stats().Committed >= oldest {
			t.Fatalf("committed %d while the stage holds position %d", sp.Stats().Committed, oldest)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "held events released by Tick", func() bool { return sp.Stats().Committed == 3 })
	wantInOrder(t, out.records(), 0, 6)

	// Events still held at shutdown are flushed and exported.
	spoolDeliveries(t, sink, 6, 1, 2)
	waitFor(t, "the shipper to take the delivery", func() bool {
		_, held := stage.OldestPending()
		return held
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantInOrder(t, out.records(), 0, 8)
	if sp.Stats().Committed != 4 {
		t.Fatalf("committed %d after shutdown, want 4", sp.Stats().Committed)
	}
}

func TestShipperSkipsUndecodableEntries(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{})
	sink := NewSpoolSink(sp)
	spoolDeliveries(t, sink, 0, 1, 2)
	if _, err := sp.Append(context.Background(), []byte("not a delivery")); err != nil {
		t.Fatal(err)
	}
	spoolDeliveries(t, sink, 2, 1, 2)
	out := &fakeExporter{name: "out"}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{out}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runShipper(t, sh)
	waitFor(t, "all committed", func() bool { return sp.Stats().Committed == 3 })
	wantInOrder(t, out.records(), 0, 4)
	if st := sh.Stats(); st.UndecodableEntries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSpoolSinkBackpressureRecoversAfterDrain(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{MaxBytes: 64 << 10, SegmentBytes: 4 << 10, Compression: "none"})
	sink := NewSpoolSink(sp)
	big := func(i int) *Delivery {
		return &Delivery{Source: Source{Identity: "ws01"}, Events: []*event.Event{{Raw: eventName(i) + strings.Repeat(" ", 1500)}}}
	}
	accepted := 0
	for ; ; accepted++ {
		err := sink.Accept(context.Background(), big(accepted))
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrBackpressure) || !errors.Is(err, spool.ErrFull) {
			t.Fatalf("Accept on a full spool: %v, want ErrBackpressure wrapping spool.ErrFull", err)
		}
		if !strings.Contains(err.Error(), "bytes") {
			t.Fatalf("backpressure error lacks the spool size: %v", err)
		}
		break
	}
	if accepted == 0 {
		t.Fatal("spool was full from the start")
	}

	out := &fakeExporter{name: "out"}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{out}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runShipper(t, sh)
	waitFor(t, "room in the spool", func() bool { return sink.Accept(context.Background(), big(accepted)) == nil })
	waitFor(t, "everything exported", func() bool { return len(out.records()) == accepted+1 })
	for i, g := range out.records() {
		if !strings.HasPrefix(g, eventName(i)+" ") {
			t.Fatalf("record %d is %.10q", i, g)
		}
	}
}

func TestNewShipperValidates(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{})
	out := []Exporter{&fakeExporter{name: "out"}}
	for _, tc := range []struct {
		name string
		sp   *spool.Spool
		m    MapFunc
		outs []Exporter
	}{
		{"no spool", nil, testMap, out},
		{"no map", sp, nil, out},
		{"no exporters", sp, testMap, nil},
		{"exporter without a spool consumer", sp, testMap, []Exporter{&fakeExporter{name: "other"}}},
	} {
		if _, err := NewShipper(tc.sp, nil, tc.m, tc.outs, ShipperOptions{}, nil); err == nil {
			t.Errorf("%s: NewShipper succeeded", tc.name)
		}
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	opts := &ShipperOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{50, 15 * time.Second, 30 * time.Second},
	} {
		for i := 0; i < 100; i++ {
			if d := backoff(opts, tc.failures); d < tc.lo || d > tc.hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.failures, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestShipperStopsWhenSpoolCloses(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Options{Consumers: []string{"out"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{&fakeExporter{name: "out"}}, fastOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	sp.Close()
	select {
	case err := <-done:
		if !errors.Is(err, spool.ErrClosed) {
			t.Fatalf("Run: %v, want spool.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going on a closed spool")
	}
}

func exporterStats(sh *Shipper, name string) ExporterStats {
	for _, e := range sh.Stats().Exporters {
		if e.Name == name {
			return e
		}
	}
	return ExporterStats{}
}

// Deliveries waiting in the spool go out in one Export call and one commit,
// not one of each per delivery.
func TestShipperGroupsDeliveries(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{})
	spoolDeliveries(t, NewSpoolSink(sp), 0, 50, 2)
	out := &fakeExporter{name: "out"}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{out}, ShipperOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	waitFor(t, "50 committed deliveries", func() bool { return sp.Stats().Committed == 50 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, out.records(), 0, 100)
	if out.attempts != 1 {
		t.Errorf("%d export calls for 50 deliveries, want 1", out.attempts)
	}
	if n := sp.Stats().CommitSyncs; n != 1 {
		t.Errorf("%d commits for 50 deliveries, want 1", n)
	}
}

// A clean stop exports what was acknowledged just before it, even when the
// lane had not read it yet (here: stopped before it started).
func TestShipperStopExportsWhatJustArrived(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{})
	spoolDeliveries(t, NewSpoolSink(sp), 0, 5, 2)
	out := &fakeExporter{name: "out"}
	opts := fastOptions()
	opts.ReadEntries = 10 // what arrived last, not a backlog (which is left for the next start)
	sh, err := NewShipper(sp, nil, testMap, []Exporter{out}, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sh.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantInOrder(t, out.records(), 0, 10)
	if c := sp.Stats().Committed; c != 5 {
		t.Fatalf("committed %d after the stop, want 5", c)
	}
}

// TestShipperDecodesAndMapsOnceForAllExporters checks that exporters that
// keep up share one decode and one mapping of every event (the feed),
// while each still gets every record, in order.
func TestShipperDecodesAndMapsOnceForAllExporters(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{Consumers: []string{"a", "b", "c"}})
	sink := NewSpoolSink(sp)
	var mu sync.Mutex
	mapped := map[string]int{}
	countingMap := func(src Source, ev *event.Event, extra []record.KV) record.Record {
		mu.Lock()
		mapped[ev.Raw]++
		mu.Unlock()
		return testMap(src, ev, extra)
	}
	exps := []*fakeExporter{{name: "a"}, {name: "b", delay: time.Millisecond}, {name: "c"}}
	opts := fastOptions()
	opts.ReadEntries = 1024 // a window the lanes cannot fall out of here
	sh, err := NewShipper(sp, nil, countingMap, []Exporter{exps[0], exps[1], exps[2]}, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	spoolDeliveries(t, sink, 0, 20, 5)
	waitFor(t, "20 committed deliveries", func() bool { return sp.Stats().Committed == 20 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, e := range exps {
		wantInOrder(t, e.records(), 0, 100)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mapped) != 100 {
		t.Fatalf("%d events mapped, want 100", len(mapped))
	}
	for raw, n := range mapped {
		if n != 1 {
			t.Fatalf("%s mapped %d times for 3 exporters, want once", raw, n)
		}
	}
}

// TestShipperLaneRejoinsAfterFallingBehind runs one exporter through an
// outage longer than the feed's window (3 entries here): it must read the
// spool for itself, lose nothing, keep its order, and not hold the other
// exporter back.
func TestShipperLaneRejoinsAfterFallingBehind(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{Consumers: []string{"fast", "slow"}})
	sink := NewSpoolSink(sp)
	fast, slow := &fakeExporter{name: "fast"}, &fakeExporter{name: "slow"}
	slow.setFail(func(int) bool { return true })
	var logs lockedLog
	sh, err := NewShipper(sp, nil, testMap, []Exporter{fast, slow}, fastOptions(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runShipper(t, sh)
	spoolDeliveries(t, sink, 0, 30, 2)
	waitFor(t, "the fast exporter to take everything", func() bool { return len(fast.records()) == 60 })
	slow.setFail(nil)
	waitFor(t, "the slow exporter to catch up", func() bool { return len(slow.records()) == 60 })
	// Both in the window again: new deliveries reach both.
	spoolDeliveries(t, sink, 60, 30, 2)
	waitFor(t, "everything committed", func() bool { return sp.Stats().Committed == 60 })
	wantInOrder(t, fast.records(), 0, 120)
	wantInOrder(t, slow.records(), 0, 120)
	// The slow lane left the shared reads and came back to them (a lane
	// that kept reading on its own would pass the checks above).
	out := logs.String()
	left := strings.Index(out, "exporter fell behind the others")
	back := strings.LastIndex(out, "exporter caught up with the others")
	if left < 0 || back < left {
		t.Fatalf("the slow exporter did not leave and rejoin the shared reads:\n%s", out)
	}
}

// lockedLog is a log destination the shipper's goroutines share.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestShipperMapsDeliveriesWithMapEvents checks that ShipperOptions.MapEvents,
// when set, maps each delivery once, in one call, for all exporters.
func TestShipperMapsDeliveriesWithMapEvents(t *testing.T) {
	sp := openSpool(t, t.TempDir(), spool.Options{Consumers: []string{"a", "b"}})
	sink := NewSpoolSink(sp)
	var calls atomic.Int64
	opts := fastOptions()
	opts.ReadEntries = 1024
	opts.MapEvents = func(src Source, evs []*event.Event, out []record.Record) {
		calls.Add(1)
		for i, ev := range evs {
			out[i] = testMap(src, ev, nil)
		}
	}
	a, b := &fakeExporter{name: "a"}, &fakeExporter{name: "b"}
	sh, err := NewShipper(sp, nil, testMap, []Exporter{a, b}, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runShipper(t, sh)
	spoolDeliveries(t, sink, 0, 20, 3)
	waitFor(t, "20 committed deliveries", func() bool { return sp.Stats().Committed == 20 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantInOrder(t, a.records(), 0, 60)
	wantInOrder(t, b.records(), 0, 60)
	if n := calls.Load(); n != 20 {
		t.Fatalf("MapEvents called %d times for 20 deliveries and 2 exporters, want 20", n)
	}
}
