package forwarder

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

func TestBookmarkRoundTrip(t *testing.T) {
	m := map[string]uint64{"Security": 72207, "Microsoft-Windows-WinRM/Operational": 5}
	got, err := ParseBookmark(FormatBookmark(m))
	if err != nil || len(got) != 2 || got["Security"] != 72207 || got["Microsoft-Windows-WinRM/Operational"] != 5 {
		t.Fatalf("round trip %v %v", got, err)
	}
	windows := `<BookmarkList Direction="backward"><Bookmark Channel="Security" RecordId="149161" IsCurrent="true"/></BookmarkList>`
	if got, err := ParseBookmark(windows); err != nil || got["Security"] != 149161 {
		t.Fatalf("Windows bookmark %v %v", got, err)
	}
	for _, none := range []string{"", "  ", "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"} {
		if got, err := ParseBookmark(none); err != nil || len(got) != 0 {
			t.Errorf("ParseBookmark(%q) = %v, %v", none, got, err)
		}
	}
	if _, err := ParseBookmark(`<BookmarkList><Bookmark Channel="S" RecordId="x"/></BookmarkList>`); err == nil {
		t.Error("bad record id accepted")
	}
}

func event(id int, record int, channel string) string {
	return `<Event><System><EventID>` + itoa(id) + `</EventID><EventRecordID>` + itoa(record) + `</EventRecordID><Channel>` + channel + `</Channel></System></Event>`
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestQueryMatches(t *testing.T) {
	q := parseQuery(`<QueryList><Query Id="0"><Select Path="Security">*[System[(EventID=4658 or EventID=4690)]]</Select><Select Path="System">*</Select></Query></QueryList>`)
	tests := []struct {
		rec  Record
		want bool
	}{
		{Record{Channel: "Security", XML: []byte(event(4658, 1, "Security"))}, true},
		{Record{Channel: "Security", XML: []byte(event(4624, 2, "Security"))}, false},
		{Record{Channel: "System", XML: []byte(event(7036, 3, "System"))}, true},
		{Record{Channel: "Application", XML: []byte(event(1, 4, "Application"))}, false},
	}
	for _, tt := range tests {
		if got := q.matches(tt.rec); got != tt.want {
			t.Errorf("matches(%s) = %v", tt.rec.XML, got)
		}
	}
	if !parseQuery("not xml").matches(Record{Channel: "X"}) {
		t.Error("an unreadable query should match everything")
	}
}

func TestStaticLogOrderAndBookmarks(t *testing.T) {
	// Newest first, as some exports are; one event without a record id.
	log := NewStaticLog([]string{event(4658, 30, "Security"), event(4690, 10, "Security"), event(4658, 20, "Security"),
		`<Event><System><EventID>111</EventID><Channel>Security</Channel></System></Event>`})
	recs, err := log.Read(context.Background(), map[string]uint64{}, 10, 0)
	if err != nil || len(recs) != 4 {
		t.Fatalf("read %d, %v", len(recs), err)
	}
	var ids []uint64
	for _, r := range recs {
		ids = append(ids, r.RecordID)
	}
	if ids[0] != 1 || ids[1] != 10 || ids[2] != 20 || ids[3] != 30 {
		t.Fatalf("record order %v", ids)
	}
	recs, _ = log.Read(context.Background(), map[string]uint64{"Security": 20}, 10, 0)
	if len(recs) != 1 || recs[0].RecordID != 30 {
		t.Fatalf("after bookmark 20: %v", recs)
	}
	if log.Drained(map[string]uint64{"Security": 20}) || !log.Drained(map[string]uint64{"Security": 30}) {
		t.Error("Drained wrong")
	}
}

func TestGeneratedLogRate(t *testing.T) {
	g := &GeneratedLog{Channel: "Security", Rate: 0, Total: 25, Make: func(id uint64) []byte { return []byte(event(4658, int(id), "Security")) }}
	recs, err := g.Read(context.Background(), map[string]uint64{}, 10, time.Millisecond)
	if err != nil || len(recs) != 10 || recs[9].RecordID != 10 {
		t.Fatalf("first read %d %v", len(recs), err)
	}
	recs, _ = g.Read(context.Background(), map[string]uint64{"Security": 20}, 10, time.Millisecond)
	if len(recs) != 5 || !g.Drained(map[string]uint64{"Security": 25}) {
		t.Fatalf("tail read %d", len(recs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Read(ctx, map[string]uint64{}, 10, time.Second); err == nil {
		t.Error("read on a cancelled context succeeded")
	}
}

func TestFitEnvelope(t *testing.T) {
	big := Record{XML: make([]byte, 100_000)}
	recs := []Record{big, big, big, big}
	if got := fitEnvelope(recs, 512000); len(got) != 2 {
		t.Errorf("fit %d records of 200 KB UTF-16 into 512000, want 2", len(got))
	}
	if got := fitEnvelope([]Record{{XML: make([]byte, 1_000_000)}}, 512000); len(got) != 1 {
		t.Error("a single oversized record must still be sent")
	}
}

// TestRefreshResubscribes runs a host against a scripted collector whose
// subscription version changes: the host must notice on refresh, stop its
// delivery loop and enumerate again rather than hang.
func TestRefreshResubscribes(t *testing.T) {
	var enumerates atomic.Int32
	version := func() string {
		if enumerates.Load() <= 2 {
			return "11111111-1111-1111-1111-111111111111"
		}
		return "22222222-2222-2222-2222-222222222222"
	}
	srv := scriptedCollector(func(r *http.Request, msg *soap.Message, _ []byte) {
		if msg.Action == soap.ActionEnumerate {
			enumerates.Add(1)
		}
	}, func(r *http.Request) []soap.Subscription {
		return []soap.Subscription{{
			ID: "A", Version: version(), Name: "s", Address: "http://" + r.Host + "/wsman/subscriptions/A",
			Heartbeat: time.Hour, MaxTime: 10 * time.Millisecond, MaxEnvelopeSize: 512000, Query: "<QueryList/>",
		}}
	})
	defer srv.Close()
	h := NewHost(HostConfig{
		MachineID: "h.example.test", ManagerURL: srv.URL + "/wsman/SubscriptionManager/WEC",
		Client: &Client{Security: plainHTTP{}}, Log: NewStaticLog(nil), Refresh: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Second)
	for h.Stats.Enumerates.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.Stats.Enumerates.Load(); n < 4 {
		t.Fatalf("host enumerated %d times; it did not re-subscribe after the version changed", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

// scriptedCollector serves WS-Man over plain HTTP as a collector would:
// an Enumerate is answered with subs, an End with 204 No Content, any
// other message with an Ack. seen, when not nil, is shown every message
// that parses, with its body as sent, before it is answered.
func scriptedCollector(seen func(r *http.Request, msg *soap.Message, body []byte), subs func(r *http.Request) []soap.Subscription) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain := body
		if strings.EqualFold(r.Header.Get("Content-Encoding"), "SLDC") {
			// As the gateway does: a body flagged SLDC that does not
			// decode is taken as sent.
			if out, err := sldc.Decompress(body, 64<<20); err == nil {
				plain = out
			}
		}
		text, _ := soap.DecodeText(plain)
		msg, err := soap.Parse(text)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if seen != nil {
			seen(r, msg, body)
		}
		var out []byte
		switch msg.Action {
		case soap.ActionEnumerate:
			out = soap.EnumerateResponse(msg, subs(r))
		case soap.ActionEnd:
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			out = soap.Ack(msg)
		}
		w.Write(soap.EncodeUTF16LE(out))
	}))
}

// plainHTTP is a Security without authentication, for scripted collectors.
type plainHTTP struct{}

func (plainHTTP) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", u.Host)
}

func (plainHTTP) Handshake(context.Context, *Conn, *url.URL) (Sealer, error) {
	return plainSealer{}, nil
}
