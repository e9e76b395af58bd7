package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// TestBatchLimits is issue 10 part 2: a small request must not become
// hundreds of thousands of records. A batch beyond what its subscription
// announced is refused with a wsman:EncodingLimit fault; empty and
// content-free w:Event elements are counted and dropped; the damage of a
// batch is one log line.
func TestBatchLimits(t *testing.T) {
	handle := `<w:Event Action="` + soap.ActionEvent + `"><![CDATA[<Event><System><EventID>4658</EventID><EventRecordID>1</EventRecordID>` +
		`<Channel>Security</Channel><Computer>h</Computer></System></Event>]]></w:Event>`
	damaged := `<w:Event><![CDATA[<Event><System><EventID>4658</EventID><EventRecordID>2</EventRecordID><Chan]]></w:Event>`
	tests := []struct {
		name       string
		sub        testSubscription
		events     string
		compress   bool
		wantStatus int
		wantFault  string // a string the fault must carry
		wantKept   int
		wantEmpty  uint64
		wantDamage uint64
	}{{
		name: "hundreds of thousands of empty events, SLDC", events: strings.Repeat(`<w:Event/>`, 300_000), compress: true,
		wantStatus: http.StatusBadRequest, wantFault: soap.FaultDetailMaxEnvelopeSize,
	}, {
		name: "envelope beyond MaxEnvelopeSize", sub: testSubscription{MaxEnvelopeSize: 64000},
		events: strings.Repeat(handle, 400), compress: true,
		wantStatus: http.StatusBadRequest, wantFault: "MaxEnvelopeSize",
	}, {
		name: "more elements than MaxItems, empty ones counted", sub: testSubscription{MaxItems: 10},
		events:     strings.Repeat(handle, 5) + strings.Repeat(`<w:Event/>`, 6),
		wantStatus: http.StatusBadRequest, wantFault: "MaxItems",
	}, {
		name: "MaxItems reached exactly", sub: testSubscription{MaxItems: 10},
		events:     strings.Repeat(handle, 10),
		wantStatus: http.StatusOK, wantKept: 10,
	}, {
		name: "one event larger than the envelope passes", sub: testSubscription{MaxEnvelopeSize: 8192},
		events: `<w:Event><![CDATA[<Event><System><EventID>4658</EventID><EventRecordID>1</EventRecordID></System><EventData><Data Name="X">` +
			strings.Repeat("y", 20000) + `</Data></EventData></Event>]]></w:Event>`,
		wantStatus: http.StatusOK, wantKept: 1,
	}, {
		// Text that is not XML ("x") is an event with a problem, kept
		// (issue 9); only elements with nothing in them are dropped.
		name:       "empty and content-free elements dropped, damage summarised",
		events:     strings.Repeat(`<w:Event/>`, 500) + strings.Repeat(`<w:Event>x</w:Event>`, 300) + strings.Repeat(`<w:Event><![CDATA[<Event/>]]></w:Event>`, 200) + handle + strings.Repeat(damaged, 50),
		wantStatus: http.StatusOK, wantKept: 351, wantEmpty: 700, wantDamage: 350,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			sub := tt.sub
			h, sink, def, stats := newTestHandlerWith(t, &sub, logs)
			req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:7", Identifier: def.ID, Version: "V",
				Bookmark: "<BookmarkList/>", Body: []byte(`<w:Events>` + tt.events + `</w:Events>`)}
			body := soap.EncodeUTF16LE(req.Build())
			hdr := http.Header{}
			if tt.compress {
				body = sldc.Compress(body)
				hdr.Set("Content-Encoding", "SLDC")
			}
			if len(body) > 1<<20 {
				t.Fatalf("test body of %d bytes does not fit the body cap", len(body))
			}
			rec := post(h, "/wsman/subscriptions/"+def.ID, body, hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, logs)
			}
			if sink.events != tt.wantKept {
				t.Errorf("%d events handed on, want %d", sink.events, tt.wantKept)
			}
			if got := stats.EventsEmpty.Load(); got != tt.wantEmpty {
				t.Errorf("%d empty events counted, want %d", got, tt.wantEmpty)
			}
			if got := stats.EventsDamage.Load(); got != tt.wantDamage {
				t.Errorf("%d damaged events counted, want %d", got, tt.wantDamage)
			}
			if tt.wantFault != "" {
				text, _ := soap.DecodeText(rec.Body.Bytes())
				m, err := soap.Parse(text)
				if err != nil || m.Action != soap.ActionFault || !bytes.Contains(text, []byte("w:EncodingLimit")) ||
					!bytes.Contains(text, []byte(tt.wantFault)) {
					t.Fatalf("not an EncodingLimit fault naming %q (%v):\n%s", tt.wantFault, err, text)
				}
				if stats.BatchesOverLimit.Load() != 1 {
					t.Errorf("batches over limit %d, want 1", stats.BatchesOverLimit.Load())
				}
			}
			// One line per batch at most, however many events were damaged.
			if n := strings.Count(logs.String(), "level=WARN"); n > 1 || (tt.wantEmpty+tt.wantDamage > 0 && n != 1) {
				t.Errorf("%d WARN lines for one batch:\n%.2000s", n, logs)
			}
			if tt.wantEmpty > 0 && (!strings.Contains(logs.String(), "host=host1.example.test") || !strings.Contains(logs.String(), fmt.Sprintf("empty=%d", tt.wantEmpty))) {
				t.Errorf("summary line lacks counts:\n%s", logs)
			}
		})
	}
}
