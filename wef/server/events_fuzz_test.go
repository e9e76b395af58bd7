package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"wefgate/wef/event"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// FuzzEventsBatchText builds a valid Events envelope around arbitrary
// event texts, each in one CDATA section as Windows writes it (never
// split around "]]>"), and sends it through the handler, plain or
// SLDC-compressed. Nothing inside an event's text may get the batch
// refused: the answer is always an Ack, every w:Event comes out (handed on,
// or counted empty when it holds nothing), and the bookmark moves on.
func FuzzEventsBatchText(f *testing.F) {
	h, sink, def, stats := newTestHandlerWith(f, &testSubscription{}, io.Discard)
	h.cfg.Keep = func(*event.Event) bool { return true }
	state := h.cfg.State.(*memState)
	f.Add([]byte("<Event><System><EventID>4658</EventID></System><EventData><Data Name='ProcessName'>C:\\Tools\\a\x00b.exe</Data></EventData></Event>"), []byte("<Event/>"), false)
	f.Add([]byte("<Event><EventData><Data>a]]>b</Data></EventData></Event>"), []byte("]]>"), true)
	f.Add([]byte("<Event><System><EventID>4658</Event"), []byte("\xff\xfe<<&&;"), false)
	f.Add([]byte("</w:Event><w:Event>"), []byte("</Events>]]>"), false)
	f.Add([]byte(""), []byte(" \r\n"), true)
	record := 0
	f.Fuzz(func(t *testing.T, a, b []byte, compressed bool) {
		texts := [][]byte{a, b, []byte("<Event><System><EventID>4658</EventID></System></Event>")}
		var body strings.Builder
		body.WriteString("<w:Events>")
		for _, x := range texts {
			body.WriteString(`<w:Event Action="` + soap.ActionEvent + `"><![CDATA[` + string(x) + `]]></w:Event>`)
		}
		body.WriteString("</w:Events>")
		record++
		req := soap.Request{Action: soap.ActionEvents, To: "x", MessageID: "uuid:1", Identifier: def.ID, Version: "V",
			Bookmark: fmt.Sprintf(`<BookmarkList><Bookmark Channel="Security" RecordId="%d" IsCurrent="true"/></BookmarkList>`, record),
			Body:     []byte(body.String())}
		wire := soap.EncodeUTF16LE(req.Build())
		hdr := http.Header{}
		if compressed {
			wire = sldc.Compress(wire)
			hdr.Set("Content-Encoding", "SLDC")
		}
		kept, empty := sink.events, stats.EventsEmpty.Load()

		rec := post(h, "/wsman/subscriptions/"+def.ID, wire, hdr)
		if rec.Code != http.StatusOK {
			t.Fatalf("batch refused: %d %s", rec.Code, rec.Body)
		}
		text, _ := soap.DecodeText(rec.Body.Bytes())
		if ack, err := soap.Parse(text); err != nil || ack.Action != soap.ActionAck {
			t.Fatalf("answer is not an Ack: %v", err)
		}
		out := sink.events - kept + int(stats.EventsEmpty.Load()-empty)
		if out != len(texts) && !holdsEventClose(texts) {
			t.Fatalf("%d of %d events out", out, len(texts))
		}
		if got := state.bookmarks["host1.example.test|"+def.ID]; !strings.Contains(got, fmt.Sprintf(`RecordId="%d"`, record)) {
			t.Fatalf("bookmark not moved on: %q", got)
		}
	})
}

// holdsEventClose reports whether an event text holds a w:Event close tag,
// which a reader cannot tell from the end of the element when the next
// event or the end of w:Events follows it.
func holdsEventClose(texts [][]byte) bool {
	for _, x := range texts {
		if bytes.Contains(x, []byte("</w:Event")) {
			return true
		}
	}
	return false
}
