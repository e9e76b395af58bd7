package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"wefgate/wef/event"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// gateSink holds every batch until its gate is opened, so that requests
// stay in flight with their bytes reserved.
type gateSink struct {
	gate    chan struct{}
	mu      sync.Mutex
	entered int
}

func (s *gateSink) Accept(_ context.Context, _ *Batch) error {
	s.mu.Lock()
	s.entered++
	s.mu.Unlock()
	<-s.gate
	return nil
}

func (s *gateSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entered
}

func budgetHandler(budget *Budget, sink Sink) (*Handler, *testSubscription) {
	def := &testSubscription{ID: "5C1D3F4E-0000-4000-8000-000000000002", Name: "handles"}
	cfg := &Config{
		Subscriptions: []Subscription{def}, State: &memState{bookmarks: map[string]string{}}, Sink: sink,
		Keep: func(ev *event.Event) bool { return ev.EventID == 4658 }, MaxBodyBytes: 1 << 20,
		SLDC: sldc.Decompress, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Budget: budget,
	}
	return NewHandler(cfg, "test", "https://wec:5986", trusting{}, &Stats{}), def
}

// sldcBatch is an SLDC Events request of n handle events (about 200 bytes
// each before UTF-16).
func sldcBatch(id string, n int) []byte {
	ev := `<w:Event><![CDATA[<Event><System><EventID>4658</EventID><EventRecordID>1</EventRecordID><Channel>Security</Channel>` +
		`<Computer>h</Computer></System></Event>]]></w:Event>`
	req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:9", Identifier: id, Version: "V",
		Bookmark: "<BookmarkList/>", Body: []byte(`<w:Events>` + strings.Repeat(ev, n) + `</w:Events>`)}
	return sldc.Compress(soap.EncodeUTF16LE(req.Build()))
}

func sldcHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Encoding", "SLDC")
	return h
}

// waitFor polls cond; it fails the test only if cond never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

// TestBudgetRefusesOrWaits is issue 10 part 3 scaled down: with a 1 MiB
// budget, a request that finds it taken waits (bounded) for room, or gets
// 503 with Retry-After; what is reserved never exceeds the budget.
func TestBudgetRefusesOrWaits(t *testing.T) {
	for _, tt := range []struct {
		name string
		wait time.Duration
		want int
	}{
		{"no wait: 503", 0, http.StatusServiceUnavailable},
		{"waits for room", time.Minute, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			budget := NewBudget(1<<20, tt.wait)
			sink := &gateSink{gate: make(chan struct{})}
			h, def := budgetHandler(budget, sink)
			// ~670 KB decompressed, 335 KB of text: the first request
			// holds over half the budget while it waits in the sink, so
			// the second cannot open its body beside it.
			body := sldcBatch(def.ID, 2000)
			first := make(chan int, 1)
			go func() { first <- post(h, "/wsman/subscriptions/"+def.ID, body, sldcHeader()).Code }()
			waitFor(t, "first request in the sink", func() bool { return sink.count() == 1 })

			second := make(chan *http.Response, 1)
			go func() {
				rec := post(h, "/wsman/subscriptions/"+def.ID, body, sldcHeader())
				second <- rec.Result()
			}()
			if tt.wait > 0 {
				waitFor(t, "second request waiting", func() bool { return budget.Stats().Waiting == 1 })
			}
			var resp *http.Response
			if tt.want == http.StatusServiceUnavailable {
				resp = <-second
				close(sink.gate)
			} else {
				close(sink.gate)
				resp = <-second
			}
			if code := <-first; code != http.StatusOK {
				t.Fatalf("first request: %d", code)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("second request: %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			st := budget.Stats()
			if st.Peak > st.Size || st.InFlight != 0 || st.Waited != 1 {
				t.Fatalf("budget %+v: peak over size, bytes left reserved, or no wait counted", st)
			}
		})
	}
}

// TestBudgetBoundsParallelRequests: 24 parallel SLDC requests (the attack
// run's count) never hold more than the budget, and all are answered.
func TestBudgetBoundsParallelRequests(t *testing.T) {
	budget := NewBudget(4<<20, time.Minute)
	// gateSink, open, is safe for the parallel requests (countingSink is not).
	open := make(chan struct{})
	close(open)
	h, def := budgetHandler(budget, &gateSink{gate: open})
	body := sldcBatch(def.ID, 600)
	var wg sync.WaitGroup
	codes := make(chan int, 24)
	for range 24 {
		wg.Go(func() { codes <- post(h, "/wsman/subscriptions/"+def.ID, body, sldcHeader()).Code })
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d", c)
		}
	}
	if st := budget.Stats(); st.Peak > st.Size || st.InFlight != 0 {
		t.Fatalf("budget %+v", st)
	}
}

func TestDefaultBudgetBytes(t *testing.T) {
	if b := DefaultBudgetBytes(); b < 64<<20 || b > 1<<30 {
		t.Fatalf("default budget %d outside 64 MiB..1 GiB", b)
	}
}

func TestDefaultLimits(t *testing.T) {
	l := Limits{}
	if err := l.Validate(); err != nil || l != (Limits{}) {
		t.Fatalf("Validate of zero limits: %v, %+v (it must only check)", err, l)
	}
	l.ApplyDefaults()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.MaxConnections < 64 || l.MaxConnections > 16384 || l.MaxConnectionsPerAddress > l.MaxConnections ||
		l.HandshakeTimeout <= 0 || l.RefusalLogInterval <= 0 || l.BudgetWait <= 0 || l.DecompressedBytes < 64<<20 {
		t.Fatalf("defaults %+v", l)
	}
	for _, bad := range []Limits{{MaxConnections: -1}, {DecompressedBytes: 1000}, {MaxConnections: 8, MaxConnectionsPerAddress: 9}, {HandshakeTimeout: -1}} {
		bad.ApplyDefaults()
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "limits.") {
			t.Errorf("%+v: error %v, want one naming the key", bad, err)
		}
	}
}

// TestBudgetReservesWhatARequestHolds: a request reserves its body, an
// opened copy and the length its SLDC stream states, then, once decoded,
// the body and twice the text (the text and the events' copies of it),
// and gives everything back when answered.
func TestBudgetReservesWhatARequestHolds(t *testing.T) {
	budget := NewBudget(64<<20, time.Minute)
	h, def := budgetHandler(budget, &countingSink{})
	body := sldcBatch(def.ID, 50)
	plain, err := sldc.Decompress(body, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := soap.DecodeText(plain)
	if rec := post(h, "/wsman/subscriptions/"+def.ID, body, sldcHeader()); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b := int64(len(body))
	want := max(2*b+int64(len(plain))+int64(soap.TextSizeHint(len(plain))), b+2*int64(len(text)))
	if st := budget.Stats(); st.Peak != want || st.InFlight != 0 {
		t.Fatalf("peak %d, in flight %d; want peak %d (body %d, decompressed %d, text %d), nothing left", st.Peak, st.InFlight, want, b, len(plain), len(text))
	}
}

// TestBudgetUnderstatedSLDCLength: a stream whose trailer states less than
// it decodes to (not a Windows one) is still decoded whole, within the
// largest envelope, and acknowledged.
func TestBudgetUnderstatedSLDCLength(t *testing.T) {
	budget := NewBudget(64<<20, time.Minute)
	sink := &countingSink{}
	h, def := budgetHandler(budget, sink)
	body := sldcBatch(def.ID, 50)
	binary.LittleEndian.PutUint32(body[len(body)-4:], 100)
	if rec := post(h, "/wsman/subscriptions/"+def.ID, body, sldcHeader()); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if st := budget.Stats(); st.InFlight != 0 || st.Peak < 1<<20 {
		t.Fatalf("budget %+v: want the largest envelope reserved for the second decoding, nothing left", st)
	}
}

func TestSLDCLength(t *testing.T) {
	le := func(n uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{0xFF, 0xA0}, n) }
	for _, tt := range []struct {
		name string
		body []byte
		want int
	}{
		{"stated", le(5000), 5000},
		{"at the limit", le(1 << 20), 1 << 20},
		{"beyond the limit", le(1<<20 + 1), 1 << 20},
		{"zero", le(0), 1 << 20},
		{"too short", []byte{1, 2, 3}, 1 << 20},
	} {
		if got := sldcLength(tt.body, 1<<20); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestReservationResizeNeverWaitsHolding: two requests each holding half
// the budget both grow to all of it. Growing while holding would deadlock
// them; resize gives back what it holds before it waits, so both finish.
func TestReservationResizeNeverWaitsHolding(t *testing.T) {
	const size = 2 << 20
	budget := NewBudget(size, time.Minute)
	ctx := context.Background()
	a, b := reservation{b: budget}, reservation{b: budget}
	if err := a.resize(ctx, size/2); err != nil {
		t.Fatal(err)
	}
	if err := b.resize(ctx, size/2); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		err := a.resize(ctx, size)
		a.release()
		errs <- err
	}()
	go func() {
		err := b.resize(ctx, size)
		b.release()
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("resize: %v", err)
		}
	}
	if st := budget.Stats(); st.InFlight != 0 || st.Peak != size {
		t.Fatalf("budget %+v", st)
	}
	// Shrinking gives back at once; growing into free room keeps what is held.
	if err := a.resize(ctx, size/4); err != nil {
		t.Fatal(err)
	}
	if err := a.resize(ctx, size/2); err != nil || a.held != size/2 || budget.Stats().InFlight != size/2 {
		t.Fatalf("grow into free room: held %d, in flight %d, %v", a.held, budget.Stats().InFlight, err)
	}
	a.resize(ctx, 0)
	if budget.Stats().InFlight != 0 {
		t.Fatal("resize to 0 left bytes reserved")
	}
}

// TestReadBodyLengths: a body above the first allocation (64 KiB) is read
// whole, and one shorter than its Content-Length is refused with 400.
func TestReadBodyLengths(t *testing.T) {
	h, def := budgetHandler(NewBudget(64<<20, time.Minute), &countingSink{})
	plain, err := sldc.Decompress(sldcBatch(def.ID, 600), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) <= bodyChunk {
		t.Fatalf("test body of %d bytes does not exceed the first allocation", len(plain))
	}
	path := "/wsman/subscriptions/" + def.ID
	if rec := post(h, path, plain, nil); rec.Code != http.StatusOK {
		t.Fatalf("body of %d bytes: status %d: %s", len(plain), rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(plain[:1000]))
	req.ContentLength = int64(len(plain))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("body shorter than its Content-Length: status %d, want 400", rec.Code)
	}
}

func TestSharesArray(t *testing.T) {
	buf := make([]byte, 10, 16)
	other := make([]byte, 10)
	for _, tt := range []struct {
		name string
		a, b []byte
		want bool
	}{
		{"same", buf, buf, true},
		{"prefix trimmed (a BOM)", buf[3:], buf, true},
		{"end trimmed", buf[:4], buf, true},
		{"empty slice of it", buf[10:10], buf, true},
		{"another array", other, buf, false},
		{"nil", nil, buf, false},
	} {
		if got := sharesArray(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
