package server

import (
	"io"
	"net/http"
	"testing"

	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// TestReleaseSLDC: the decompressed body goes back for reuse once the text
// is decoded from it, and only when the text is a copy (UTF-16). The
// release poisons the buffer, as its next use would, so an event still
// pointing into it would be lost or misread.
func TestReleaseSLDC(t *testing.T) {
	ev := []byte(`<Event><System><EventID>4658</EventID><EventRecordID>1</EventRecordID><Channel>Security</Channel><Computer>h</Computer></System></Event>`)
	tests := []struct {
		name        string
		encode      func([]byte) []byte
		compress    bool
		wantRelease bool
	}{
		{"UTF-16", soap.EncodeUTF16LE, true, true},
		{"UTF-8", func(b []byte) []byte { return b }, true, false},
		{"UTF-8 with BOM", func(b []byte) []byte { return append([]byte{0xEF, 0xBB, 0xBF}, b...) }, true, false},
		{"flagged SLDC, sent plain", soap.EncodeUTF16LE, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, sink, def, _ := newTestHandlerWith(t, &testSubscription{}, io.Discard)
			var d sldc.Decompressor
			released := 0
			h.cfg.SLDC = d.Decompress
			h.cfg.ReleaseSLDC = func(b []byte) {
				released++
				for i := range b {
					b[i] = 0xEE
				}
				d.Release(b)
			}
			req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:1", Identifier: def.ID, Version: "V",
				Bookmark: "<BookmarkList/>", Body: soap.EventsBody([][]byte{ev, ev})}
			body := tt.encode(req.Build())
			if tt.compress {
				body = sldc.Compress(body)
			}
			rec := post(h, "/wsman/subscriptions/"+def.ID, body, http.Header{"Content-Encoding": {"SLDC"}})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			if sink.events != 2 {
				t.Errorf("sink got %d events, want 2", sink.events)
			}
			if got := released == 1; got != tt.wantRelease {
				t.Errorf("released %d buffers, want release %v", released, tt.wantRelease)
			}
		})
	}
}
