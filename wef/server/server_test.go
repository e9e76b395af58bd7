package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"wefgate/pipeline"
	"wefgate/subscriptions"
	"wefgate/wef/event"
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

func (s *countingSink) Accept(_ context.Context, d *pipeline.Delivery) error {
	s.events += len(d.Events)
	return nil
}

func newTestHandler(t testing.TB) (*Handler, *countingSink, *subscriptions.Definition) {
	store, err := subscriptions.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	def := &subscriptions.Definition{Name: "handles", XPath: "*"}
	if err := def.Normalize(); err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{}
	cfg := &Config{
		Subscriptions: []*subscriptions.Definition{def}, Store: store, Sink: sink,
		Keep: func(ev *event.Event) bool { return ev.EventID == 4658 }, MaxBodyBytes: 1 << 20,
		SLDC: sldc.Decompress, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return NewHandler(cfg, "test", "https://wec:5986", trusting{}, &Stats{}), sink, def
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
		Bookmark: "<BookmarkList/>", Body: soap.EventsBody([][]byte{ev("4658"), ev("4624"), ev("4658"), []byte("<Event><Sys")})}
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
		// Two 4658s kept, the 4624 dropped, the unparsable event kept.
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
		{"GET", http.MethodGet, "/wsman/SubscriptionManager/WEC", nil, http.StatusNotFound},
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
