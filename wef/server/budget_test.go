package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
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
			body := sldcBatch(def.ID, 600) // ~250 KB decompressed
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
	h, def := budgetHandler(budget, &countingSink{})
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
