package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"wefgate/wef/event"
	"wefgate/wef/kerberos"
	"wefgate/wef/multipart"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

func TestMachineMatches(t *testing.T) {
	tests := []struct {
		identity, machine string
		want              bool
	}{
		{"win10.corp.example", "WIN10.corp.example", true},
		{"WIN10$@CORP.EXAMPLE", "win10.corp.example", true},
		{"WIN10$@CORP.EXAMPLE", "win11.corp.example", false},
		{"win10.corp.example", "win11.corp.example", false},
		{"srv$@CORP.EXAMPLE", "srv", true},
	}
	for _, tt := range tests {
		if got := machineMatches(tt.identity, tt.machine); got != tt.want {
			t.Errorf("machineMatches(%q, %q) = %v", tt.identity, tt.machine, got)
		}
	}
}

func TestIsDeliveryPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/wsman/subscriptions/ABC": true, "/WSMAN/Subscriptions/abc/1": true,
		"/wsman/SubscriptionManager/WEC": false, "/wsman/": false, "/": false, "/test": false,
	} {
		if got := isDeliveryPath(p); got != want {
			t.Errorf("isDeliveryPath(%q) = %v", p, got)
		}
	}
}

// trusting authenticates every request as one host, so the handler's
// parsing and dispatch can be driven directly.
type trusting struct{}

func (trusting) Authenticate(http.ResponseWriter, *http.Request, *Conn) (Peer, bool) {
	return Peer{Identity: "host1.example.test", Auth: soap.Auth{Profile: soap.ProfileMutual, IssuerThumbprint: "AB"}}, false
}
func (trusting) Open(_ *http.Request, _ *Conn, b []byte) ([]byte, error) { return b, nil }
func (trusting) Seal(w http.ResponseWriter, _ *Conn, status int, b []byte) error {
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

type countingSink struct{ events int }

func (s *countingSink) Accept(_ context.Context, b *Batch) error {
	s.events += len(b.Events)
	return nil
}

// testSubscription is a Subscription admitting every host.
type testSubscription struct {
	ID, Name string
	// MaxEnvelopeSize and MaxItems are its batch limits (0: the default
	// envelope, no item limit).
	MaxEnvelopeSize, MaxItems int
}

func (s *testSubscription) BatchLimits() (int, int) {
	if s.MaxEnvelopeSize == 0 {
		return 512000, s.MaxItems
	}
	return s.MaxEnvelopeSize, s.MaxItems
}

func (s *testSubscription) Key() (string, string) { return s.ID, s.Name }
func (*testSubscription) IsEnabled() bool         { return true }
func (*testSubscription) Admits(string) bool      { return true }
func (s *testSubscription) Offer(baseURL string, auth soap.Auth, bookmark string) soap.Subscription {
	return soap.Subscription{ID: s.ID, Name: s.Name, Address: baseURL + soap.DeliveryPath + s.ID, Auth: auth, Bookmark: bookmark}
}

// memState is a State in memory.
type memState struct {
	mu        sync.Mutex
	bookmarks map[string]string
	contacts  []Contact
}

func (m *memState) Bookmark(_ context.Context, identity, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bookmarks[identity+"|"+id], nil
}

func (m *memState) CommitBatch(_ context.Context, bookmark string, c Contact) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if bookmark != "" {
		m.bookmarks[c.Identity+"|"+c.SubscriptionID] = bookmark
	}
	m.contacts = append(m.contacts, c)
	return nil
}

func newTestHandler(t testing.TB) (*Handler, *countingSink, *testSubscription) {
	h, sink, def, _ := newTestHandlerWith(t, &testSubscription{}, io.Discard)
	return h, sink, def
}

// newTestHandlerWith serves def (given an id and name when it has none),
// logging to logs; the Stats are returned.
func newTestHandlerWith(t testing.TB, def *testSubscription, logs io.Writer) (*Handler, *countingSink, *testSubscription, *Stats) {
	if def.ID == "" {
		def.ID, def.Name = "5C1D3F4E-0000-4000-8000-000000000001", "handles"
	}
	sink := &countingSink{}
	cfg := &Config{
		Subscriptions: []Subscription{def}, State: &memState{bookmarks: map[string]string{}}, Sink: sink,
		Keep: func(ev *event.Event) bool { return ev.EventID == 4658 }, MaxBodyBytes: 1 << 20,
		SLDC: sldc.Decompress, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
	stats := &Stats{}
	return NewHandler(cfg, "test", "https://wec:5986", trusting{}, stats), sink, def, stats
}

func TestMultipartProtocol(t *testing.T) {
	for scheme, want := range map[string]string{
		kerberos.SchemeKerberos: multipart.ProtocolKerberos, kerberos.SchemeNegotiate: multipart.ProtocolSPNEGO,
	} {
		if got := multipartProtocol(&kerberos.Context{Scheme: scheme}); got != want {
			t.Errorf("multipartProtocol(%s) = %q, want %q", scheme, got, want)
		}
	}
}

func post(h http.Handler, path string, body []byte, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEventsBatchKeepsSelectedAndAcks(t *testing.T) {
	h, sink, def := newTestHandler(t)
	ev := func(id string) []byte {
		return []byte(`<Event><System><EventID>` + id + `</EventID><EventRecordID>1</EventRecordID><Channel>Security</Channel><Computer>h</Computer></System></Event>`)
	}
	req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:1", Identifier: def.ID, Version: "V",
		Bookmark: "<BookmarkList/>", Body: soap.EventsBody([][]byte{ev("4658"), ev("4624"), ev("4658"), []byte("<Event><System><EventRecordID>7</EventRecordID><Sys")})}
	for _, compress := range []bool{false, true} {
		sink.events = 0
		body := soap.EncodeUTF16LE(req.Build())
		hdr := http.Header{}
		if compress {
			body = sldc.Compress(body)
			hdr.Set("Content-Encoding", "SLDC")
		}
		rec := post(h, "/wsman/subscriptions/"+def.ID, body, hdr)
		if rec.Code != http.StatusOK {
			t.Fatalf("compress=%v: status %d %s", compress, rec.Code, rec.Body)
		}
		text, _ := soap.DecodeText(rec.Body.Bytes())
		if ack, err := soap.Parse(text); err != nil || ack.Action != soap.ActionAck {
			t.Fatalf("not an Ack: %v", err)
		}
		// Two 4658s kept, the 4624 dropped, the unparsable event (its
		// record id read) kept.
		if sink.events != 3 {
			t.Errorf("compress=%v: sink got %d events, want 3", compress, sink.events)
		}
	}
}

func TestStatusCodes(t *testing.T) {
	h, _, def := newTestHandler(t)
	env := func(action, id string) []byte {
		r := soap.Request{Action: action, To: "x", MessageID: "uuid:1", Identifier: id, Body: []byte("<w:Events/>")}
		return soap.EncodeUTF16LE(r.Build())
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		want   int
	}{
		{"GET", http.MethodGet, "/wsman/SubscriptionManager/WEC", nil, http.StatusMethodNotAllowed},
		{"empty auth round trip", http.MethodPost, "/wsman/SubscriptionManager/WEC", nil, http.StatusOK},
		{"enumerate", http.MethodPost, "/any/path", env(soap.ActionEnumerate, ""), http.StatusOK},
		{"heartbeat", http.MethodPost, "/wsman/subscriptions/" + def.ID, env(soap.ActionHeartbeat, def.ID), http.StatusOK},
		{"unknown subscription", http.MethodPost, "/wsman/subscriptions/X", env(soap.ActionHeartbeat, "00000000-0000-0000-0000-000000000000"), http.StatusNotFound},
		{"end", http.MethodPost, "/wsman/subscriptions/" + def.ID, env(soap.ActionEnd, def.ID), http.StatusNoContent},
		{"subscription end", http.MethodPost, "/wsman/subscriptions/" + def.ID, env(soap.ActionSubscriptionEnd, def.ID), http.StatusNoContent},
		{"garbage", http.MethodPost, "/wsman/subscriptions/" + def.ID, []byte("\x00\x01garbage"), http.StatusBadRequest},
		{"too large", http.MethodPost, "/x", make([]byte, 2<<20), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(tt.body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.want)
			}
		})
	}
}

// FuzzHandler drives the whole request path (decompression, decoding,
// envelope parsing, dispatch, event parsing) with arbitrary bodies: no
// input may panic the server or produce a 5xx.
func FuzzHandler(f *testing.F) {
	h, _, def := newTestHandler(f)
	r := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:1", Identifier: def.ID, Bookmark: "<BookmarkList/>",
		Body: soap.EventsBody([][]byte{[]byte(`<Event><System><EventID>4658</EventID></System></Event>`)})}
	f.Add(soap.EncodeUTF16LE(r.Build()), false)
	f.Add(sldc.Compress(soap.EncodeUTF16LE(r.Build())), true)
	f.Add([]byte(`<s:Envelope><s:Header><a:Action>`+soap.ActionEnumerate+`</a:Action></s:Header><s:Body/></s:Envelope>`), false)
	f.Fuzz(func(t *testing.T, body []byte, compressed bool) {
		hdr := http.Header{}
		if compressed {
			hdr.Set("Content-Encoding", "SLDC")
		}
		rec := post(h, "/wsman/subscriptions/"+def.ID, body, hdr)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

// TestPanicAnswered500 checks that a panic while handling a batch (here
// in the decompressor) answers 500, logs the host and the panic, and
// leaves the handler serving: the next batch is acknowledged.
func TestPanicAnswered500(t *testing.T) {
	var logs bytes.Buffer
	h, sink, def, _ := newTestHandlerWith(t, &testSubscription{}, &logs)
	decompress := h.cfg.SLDC
	h.cfg.SLDC = func([]byte, int) ([]byte, error) { panic("decoder bug") }
	ev := []byte(`<Event><System><EventID>4658</EventID><EventRecordID>1</EventRecordID><Channel>Security</Channel><Computer>h</Computer></System></Event>`)
	req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:1", Identifier: def.ID, Version: "V",
		Bookmark: "<BookmarkList/>", Body: soap.EventsBody([][]byte{ev})}
	body := sldc.Compress(soap.EncodeUTF16LE(req.Build()))
	hdr := http.Header{"Content-Encoding": {"SLDC"}}
	if rec := post(h, "/wsman/subscriptions/"+def.ID, body, hdr); rec.Code != http.StatusInternalServerError || rec.Header().Get("Connection") != "close" {
		t.Fatalf("status %d, Connection %q; want 500 and close", rec.Code, rec.Header().Get("Connection"))
	}
	if out := logs.String(); !strings.Contains(out, "panic while handling a request") || !strings.Contains(out, "decoder bug") || !strings.Contains(out, "host=") {
		t.Fatalf("log lacks the panic line with the host:\n%s", out)
	}
	h.cfg.SLDC = decompress
	if rec := post(h, "/wsman/subscriptions/"+def.ID, body, hdr); rec.Code != http.StatusOK || sink.events != 1 {
		t.Fatalf("after the panic: status %d, %d events accepted", rec.Code, sink.events)
	}
}
