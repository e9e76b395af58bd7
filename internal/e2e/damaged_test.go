package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/wef/forwarder"
	"wefgate/wef/soap"
)

// TestHTTPSDamagedEventTextNeverRefusesBatch sends, through the HTTPS
// listener, UTF-16LE Events batches as Windows writes them (each event in
// one CDATA section, never split) whose event text is damaged: a raw NUL
// inside ProcessName, a "]]>" inside a value, bytes that are not XML, an
// element cut short. Each batch must be acknowledged, every handle event
// exported with what could be read (damage in wef.parse_problem), and the
// bookmark must move on.
func TestHTTPSDamagedEventTextNeverRefusesBatch(t *testing.T) {
	f := newHTTPSFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const host = "host1.example.test"
	h1 := f.host(t, host, forwarder.NewStaticLog(nil))
	subs, err := h1.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := handleSub(t, subs)

	close4658 := func(rec uint64, process string) string {
		return testEvent(4658, rec, host, map[string]string{"HandleId": "0x274", "ProcessId": "0x1e20", "ProcessName": process})
	}
	tests := []struct {
		name string
		// events are written into CDATA verbatim.
		events []string
		// process is the ProcessName each exported 4658 must carry, in
		// order ("" when it could not be read); problem says whether it
		// is flagged as damaged. Every one carries the ProcessId, read
		// before the damage.
		process []string
		problem []bool
	}{
		{
			name:    "raw NUL",
			events:  []string{close4658(201, "C:\\Tools\\a\x00b.exe"), close4658(202, `C:\Tools\clean.exe`)},
			process: []string{"C:\\Tools\\a\x00b.exe", `C:\Tools\clean.exe`},
			problem: []bool{false, false},
		},
		{
			name:    "stray ]]> in CDATA",
			events:  []string{close4658(203, `C:\Tools\a]]>b.exe`), close4658(204, `C:\Tools\clean.exe`)},
			process: []string{`C:\Tools\a]]>b.exe`, `C:\Tools\clean.exe`},
			problem: []bool{false, false}, // read in full
		},
		{
			name: "not XML, then cut short",
			events: []string{
				strings.Replace(close4658(205, `C:\Tools\x.exe`), `<Data Name='ProcessName'>`, `<Data Name='ProcessName'></Oops><<&`, 1),
				strings.Split(close4658(206, `C:\Tools\cut.exe`), `<Data Name='ProcessName'>`)[0] + `<Data Name='ProcessName'>C:\Tools\cu`,
			},
			process: []string{"", ""},
			problem: []bool{true, true},
		},
	}
	lastRecord := uint64(0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(readOutput(t, filepath.Join(f.dir, "events.jsonl")))
			var body strings.Builder
			body.WriteString(`<w:Events>`)
			for _, ev := range tc.events {
				body.WriteString(`<w:Event Action="` + soap.ActionEvent + `"><![CDATA[` + ev + `]]></w:Event>`)
			}
			body.WriteString(`</w:Events>`)
			lastRecord += uint64(len(tc.events))
			recordID := 200 + lastRecord
			req := soap.Request{
				Action: soap.ActionEvents, To: sub.Address, MachineID: host, MessageID: soap.NewMessageID(),
				Identifier: sub.ID, Version: sub.Version, AckRequested: true,
				Bookmark: fmt.Sprintf(`<BookmarkList><Bookmark Channel="Security" RecordId="%d" IsCurrent="true"/></BookmarkList>`, recordID),
				Body:     []byte(body.String()),
			}
			resp, answer := rawPost(t, f, host, strings.TrimPrefix(sub.Address, fmt.Sprintf("https://localhost:%d", f.gw.port)),
				http.Header{"Content-Type": {soap.ContentType}}, soap.EncodeUTF16LE(req.Build()))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("batch refused: %d %s", resp.StatusCode, answer)
			}
			text, _ := soap.DecodeText(answer)
			if ack, err := soap.Parse(text); err != nil || ack.Action != soap.ActionAck {
				t.Fatalf("answer is not an Ack: %v %q", err, text)
			}

			recs := waitOutput(t, filepath.Join(f.dir, "events.jsonl"), before+len(tc.process))[before:]
			if len(recs) != len(tc.process) {
				t.Fatalf("%d records exported, want %d", len(recs), len(tc.process))
			}
			for i, r := range recs {
				if r.Attributes["event.code"] != "4658" {
					t.Errorf("record %d: event.code %v", i, r.Attributes["event.code"])
				}
				if pid := fmt.Sprint(r.Attributes["process.pid"]); pid != "7712" {
					t.Errorf("record %d: process.pid %s, want 7712 (0x1e20)", i, pid)
				}
				got, _ := r.Attributes["process.executable.path"].(string)
				if got != tc.process[i] {
					t.Errorf("record %d: process.executable.path %q, want %q", i, got, tc.process[i])
				}
				if _, flagged := r.Attributes["wef.parse_problem"]; flagged != tc.problem[i] {
					t.Errorf("record %d: wef.parse_problem %v, want flagged=%v", i, r.Attributes["wef.parse_problem"], tc.problem[i])
				}
			}

			subs, err := h1.Enumerate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := handleSub(t, subs).Bookmark, fmt.Sprintf(`RecordId="%d"`, recordID); !strings.Contains(got, want) {
				t.Errorf("bookmark %q, want one with %s", got, want)
			}
		})
	}
}
