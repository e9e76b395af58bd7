package soap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"wefgate/internal/samples"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		want     string
		replaced int
	}{
		{"utf16 bom", append([]byte{0xFF, 0xFE}, 'a', 0, 0xE9, 0), "aé", 0},
		{"utf16 no bom", []byte{'<', 0, 'x', 0}, "<x", 0},
		{"utf16 surrogate pair", []byte{0xFF, 0xFE, 0x3D, 0xD8, 0x00, 0xDE}, "😀", 0},
		{"utf16 lone high surrogate", []byte{0xFF, 0xFE, 0x3D, 0xD8, 'a', 0}, "\uFFFDa", 1},
		{"utf16 lone low surrogate", []byte{0xFF, 0xFE, 0x00, 0xDE}, "\uFFFD", 1},
		{"utf16 odd length", []byte{0xFF, 0xFE, 'a', 0, 'b'}, "a", 1},
		{"utf8 bom", []byte{0xEF, 0xBB, 0xBF, '<', 'a'}, "<a", 0},
		{"utf8 plain", []byte("<a>é</a>"), "<a>é</a>", 0},
		{"utf8 invalid", []byte{'<', 0xFF, '>'}, "<\uFFFD>", 1},
		{"empty", nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := DecodeText(tt.in)
			if string(got) != tt.want || n != tt.replaced {
				t.Fatalf("DecodeText = %q, %d; want %q, %d", got, n, tt.want, tt.replaced)
			}
		})
	}
}

func TestEncodeUTF16LERoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "jörg\\文件.txt", "😀 <x/>"} {
		enc := EncodeUTF16LE([]byte(s))
		if !bytes.HasPrefix(enc, []byte{0xFF, 0xFE}) {
			t.Fatalf("no BOM for %q", s)
		}
		dec, n := DecodeText(enc)
		if string(dec) != s || n != 0 {
			t.Fatalf("round trip %q -> %q (%d replaced)", s, dec, n)
		}
	}
}

func TestParseWindowsEnumerate(t *testing.T) {
	raw := samples.Read(t, "wef", "enumerate-request.utf16le.bin")
	text, replaced := DecodeText(raw)
	if replaced != 0 {
		t.Fatalf("%d replacements in a clean capture", replaced)
	}
	m, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{
		Action: ActionEnumerate, To: "http://srv.windomain.local:5985/wsman/SubscriptionManager/WEC",
		MessageID: "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E", ReplyTo: AddressAnonymous,
		MachineID: "win10.windomain.local", ResourceURI: ResourceSubscription,
		SessionID: "uuid:D25DD033-C406-44AB-8443-85E1BC794F10", OperationID: "uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4",
		MaxEnvelopeSize: 512000, BodyElement: "Enumerate",
	}
	if m.Action != want.Action || m.To != want.To || m.MessageID != want.MessageID || m.ReplyTo != want.ReplyTo ||
		m.MachineID != want.MachineID || m.ResourceURI != want.ResourceURI || m.SessionID != want.SessionID ||
		m.OperationID != want.OperationID || m.MaxEnvelopeSize != want.MaxEnvelopeSize || m.BodyElement != want.BodyElement {
		t.Fatalf("parsed %+v\nwant %+v", m, want)
	}
}

func TestParseWindowsHeartbeat(t *testing.T) {
	text, _ := DecodeText(samples.Read(t, "wef", "heartbeat.utf16le.bin"))
	m, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.Action != ActionHeartbeat || !m.AckRequested || m.Identifier != "219C5353-5F3D-4CD7-A644-F6B69E57C1C1" ||
		len(m.Events) != 0 || m.BodyElement != "Events" {
		t.Fatalf("heartbeat parsed as %+v", m)
	}
}

func TestParseEventsWithInvalidCharacter(t *testing.T) {
	text := samples.Read(t, "wef", "events-single-with-0x05.xml")
	m, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.Action != ActionEvents || len(m.Events) != 1 {
		t.Fatalf("got action %q and %d events", m.Action, len(m.Events))
	}
	if !bytes.Contains(m.Events[0], []byte{0x05}) || !bytes.HasPrefix(m.Events[0], []byte("<Event")) {
		t.Fatalf("event text not kept verbatim: %q", m.Events[0][:80])
	}
	wantBookmark := `<BookmarkList>`
	if !strings.HasPrefix(m.Bookmark, wantBookmark) || !strings.HasSuffix(m.Bookmark, `</BookmarkList>`) ||
		!strings.Contains(m.Bookmark, `RecordId="149161"`) {
		t.Fatalf("bookmark %q", m.Bookmark)
	}
}

func TestParseEventsBatchPretty(t *testing.T) {
	// The shared copy of the 21-event batch was edited by its authors
	// (Python-style \' escapes); normalise before use as its README says.
	raw := samples.Read(t, "wef", "events-batch.pretty.xml")
	raw = bytes.ReplaceAll(raw, []byte(`\'`), []byte(`'`))
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Events) != 21 {
		t.Fatalf("got %d events, want 21", len(m.Events))
	}
	for i, ev := range m.Events {
		if !bytes.HasPrefix(ev, []byte("<Event")) {
			t.Fatalf("event %d starts %q", i, ev[:min(20, len(ev))])
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"not xml":     "hello",
		"other root":  `<html><body/></html>`,
		"no header":   `<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>`,
		"unclosed":    `<s:Envelope xmlns:s="x"><s:Header><a:To>x</a:To>`,
		"mismatched":  `<s:Envelope><s:Header></s:Body></s:Envelope>`,
		"stray close": `</s:Envelope>`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, in)
		}
	}
}

func TestEventsBodyEscapesCDATAEnd(t *testing.T) {
	ev := []byte(`<Event><EventData><Data>a]]>b &amp; c</Data></EventData></Event>`)
	req := Request{Action: ActionEvents, To: "http://x/wsman/subscriptions/A", MessageID: NewMessageID(), Body: EventsBody([][]byte{ev})}
	m, err := Parse(req.Build())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Events) != 1 || !bytes.Equal(m.Events[0], ev) {
		t.Fatalf("event round trip: %q", m.Events)
	}
}

func TestAckRelatesTo(t *testing.T) {
	req := &Message{MessageID: "uuid:31652DEB-C9E8-45D6-B3E8-90AC64D48422", ReplyTo: AddressAnonymous, OperationID: "uuid:C7F39CB2-8FFD-4DA3-A111-CDB303EEA098"}
	ack, err := Parse(Ack(req))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Action != ActionAck || ack.To != AddressAnonymous || ack.OperationID != req.OperationID {
		t.Fatalf("ack %+v", ack)
	}
	if !bytes.Contains(Ack(req), []byte("<a:RelatesTo>"+req.MessageID+"</a:RelatesTo>")) {
		t.Fatal("RelatesTo does not echo MessageID verbatim")
	}
}

func TestEnumerateResponseRoundTrip(t *testing.T) {
	sub := Subscription{
		ID: "28FCC206-1336-4E4A-B76B-18B0AB46E585", Version: "65187128-14E8-DB88-6518-712814E8DB88", Name: "handles",
		Address:   "https://wec.example.test:5986/wsman/subscriptions/28FCC206-1336-4E4A-B76B-18B0AB46E585",
		Auth:      Auth{Profile: ProfileMutual, IssuerThumbprint: "ABCDEF0123"},
		Heartbeat: time.Hour, ConnectionRetryTotal: 5, ConnectionRetryInterval: time.Minute,
		MaxTime: 30 * time.Second, MaxElements: 7, MaxEnvelopeSize: 512000, ContentFormat: "Raw",
		IgnoreChannelError: true, Compression: "SLDC", Locale: "en-US",
		Query:    `<QueryList><Query Id="0"><Select Path="Security">*[System[(EventID=4658 or EventID=4690)]]</Select></Query></QueryList>`,
		Bookmark: `<BookmarkList><Bookmark Channel="Security" RecordId="72207" IsCurrent="true"/></BookmarkList>`,
	}
	req := &Message{MessageID: "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E"}
	body := EnumerateResponse(req, []Subscription{sub})
	relates, subs, err := ParseEnumerateResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if relates != req.MessageID || len(subs) != 1 {
		t.Fatalf("relates %q, %d subs", relates, len(subs))
	}
	got := subs[0]
	got.Auth.IssuerThumbprint = strings.ToUpper(got.Auth.IssuerThumbprint)
	if got != sub {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, sub)
	}
	if !bytes.Contains(body, []byte(`<w:Heartbeats>PT3600.000S</w:Heartbeats>`)) ||
		!bytes.Contains(body, []byte(`<w:ConnectionRetry Total="5">PT60.0S</w:ConnectionRetry>`)) {
		t.Fatalf("durations not in Windows form: %s", body)
	}
}

func TestParseDuration(t *testing.T) {
	tests := map[string]time.Duration{
		"PT30.000S": 30 * time.Second, "PT60.0S": time.Minute, "PT1H": time.Hour, "P1DT2M": 24*time.Hour + 2*time.Minute,
		"PT0.500S": 500 * time.Millisecond,
	}
	for in, want := range tests {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "30", "P1M", "PTxS", "PT-1S"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<s:Envelope><s:Header><a:Action>x</a:Action><w:Bookmark><B/></w:Bookmark></s:Header><s:Body><w:Events><w:Event><![CDATA[<Event/>]]></w:Event></w:Events></s:Body></s:Envelope>`))
	f.Add(EnumerateResponse(&Message{MessageID: "uuid:1"}, []Subscription{{ID: "A", Address: "http://x", Query: "<QueryList/>"}}))
	f.Add(EncodeUTF16LE([]byte(`<s:Envelope><s:Header/></s:Envelope>`)))
	f.Fuzz(func(t *testing.T, in []byte) {
		text, _ := DecodeText(in)
		m, err := Parse(text)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
	})
}

func BenchmarkParseEvents(b *testing.B) {
	ev := []byte(strings.Repeat(`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4690</EventID></System><EventData><Data Name='SourceHandleId'>0x274</Data></EventData></Event>`, 1))
	events := make([][]byte, 100)
	for i := range events {
		events[i] = ev
	}
	req := Request{Action: ActionEvents, To: "http://x", MessageID: NewMessageID(), Identifier: "A", Version: "B",
		Bookmark: `<BookmarkList><Bookmark Channel="Security" RecordId="1" IsCurrent="true"/></BookmarkList>`, Body: EventsBody(events)}
	wire := EncodeUTF16LE(req.Build())
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		text, _ := DecodeText(wire)
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

// batchEnvelope is a Windows Events envelope whose w:Event elements hold
// the given contents exactly as written (no escaping, no CDATA added).
func batchEnvelope(contents ...string) []byte {
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
		`<s:Header><a:To>http://wec/wsman/subscriptions/A/1</a:To><a:Action s:mustUnderstand="true">` + ActionEvents + `</a:Action>` +
		`<a:MessageID>uuid:31652DEB-C9E8-45D6-B3E8-90AC64D48422</a:MessageID>` +
		`<w:Bookmark><BookmarkList><Bookmark Channel="Security" RecordId="7" IsCurrent="true"/></BookmarkList></w:Bookmark><w:AckRequested/>` +
		`</s:Header><s:Body><w:Events>`)
	for _, c := range contents {
		b.WriteString(`<w:Event Action="` + ActionEvent + `">` + c + `</w:Event>`)
	}
	b.WriteString(`</w:Events></s:Body></s:Envelope>`)
	return []byte(b.String())
}

// TestParseDamagedEventText checks that nothing inside an event's text
// makes the envelope malformed: each damaged event is handed on with what
// it holds, the clean event after it too, and the bookmark is read.
func TestParseDamagedEventText(t *testing.T) {
	const clean = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4658</EventID></System></Event>`
	open := `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4658</EventID></System><EventData><Data Name='ProcessName'>`
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"raw NUL", "<![CDATA[" + open + "C:\\Tools\\a\x00b.exe</Data></EventData></Event>]]>", open + "C:\\Tools\\a\x00b.exe</Data></EventData></Event>"},
		{"stray ]]> in CDATA", "<![CDATA[" + open + "a]]>b</Data></EventData></Event>]]>", open + "a]]>b</Data></EventData></Event>"},
		{"]]> split as XML requires", "<![CDATA[" + open + "a]]]]><![CDATA[>b</Data></EventData></Event>]]>", open + "a]]>b</Data></EventData></Event>"},
		{"not XML at all", "<![CDATA[<<&&;\x01\uFFFD</x></y><z a='>]]>", "<<&&;\x01\uFFFD</x></y><z a='>"},
		{"mismatched tags", "<![CDATA[" + open + "x</EventData></Data></Event></w:Events>]]>", open + "x</EventData></Data></Event></w:Events>"},
		{"truncated element", "<![CDATA[" + open + "C:\\Tools\\a", open + "C:\\Tools\\a"},
		{"CDATA cut before its end", "<![CDATA[" + open + "x</Data>", open + "x</Data>"},
		{"close tag inside the text", "<![CDATA[" + open + "</w:Event>x</Data></EventData></Event>]]>", open + "</w:Event>x</Data></EventData></Event>"},
		{"raw XML without CDATA", open + "a &amp; b</Data></EventData></Event>", open + "a &amp; b</Data></EventData></Event>"},
		{"escaped XML", "&lt;Event&gt;&#0;&lt;/Event&gt;", "<Event>\x00</Event>"},
		{"stray < in escaped text", "&lt;Event&gt;a < b&lt;/Event&gt;", "<Event>a < b</Event>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(batchEnvelope(tt.content, "<![CDATA["+clean+"]]>"))
			if err != nil {
				t.Fatalf("envelope refused: %v", err)
			}
			if len(m.Events) != 2 {
				t.Fatalf("%d events, want 2: %q", len(m.Events), m.Events)
			}
			if string(m.Events[0]) != tt.want {
				t.Errorf("event text\n got %q\nwant %q", m.Events[0], tt.want)
			}
			if string(m.Events[1]) != clean {
				t.Errorf("clean event after it: %q", m.Events[1])
			}
			if !strings.Contains(m.Bookmark, `RecordId="7"`) || m.Action != ActionEvents {
				t.Errorf("headers: action %q bookmark %q", m.Action, m.Bookmark)
			}
		})
	}
}

// FuzzParseEventText builds a valid envelope around arbitrary event texts,
// each in a CDATA section as Windows sends it, and requires the envelope
// to be accepted with every event handed on.
func FuzzParseEventText(f *testing.F) {
	f.Add([]byte("<Event><System><EventID>4658</EventID></System><EventData><Data>a\x00b</Data></EventData></Event>"), []byte("<Event/>"))
	f.Add([]byte("<Event>]]></Event>"), []byte("]]>"))
	f.Add([]byte("<Event><System"), []byte("\xff\xfe<"))
	f.Add([]byte("</w:Event>"), []byte("<w:Event>"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		texts := [][]byte{a, b, []byte("<Event/>")}
		var contents []string
		for _, x := range texts {
			contents = append(contents, "<![CDATA["+string(x)+"]]>")
		}
		// The envelope travels as UTF-16: what the text decodes to is
		// what the forwarder meant.
		wire := EncodeUTF16LE(batchEnvelope(contents...))
		text, _ := DecodeText(wire)
		m, err := Parse(text)
		if err != nil {
			t.Fatalf("envelope refused: %v", err)
		}
		if got := len(m.Events) + m.EmptyEvents; got != len(texts) && !ambiguous(texts) {
			t.Fatalf("%d events out of %d: %q", got, len(texts), m.Events)
		}
		if !strings.Contains(m.Bookmark, `RecordId="7"`) {
			t.Fatalf("bookmark lost: %q", m.Bookmark)
		}
	})
}

// ambiguous reports whether an event text holds what a reader cannot tell
// from the end of its w:Event: a close tag followed by the next event.
func ambiguous(texts [][]byte) bool {
	for _, x := range texts {
		if bytes.Contains(x, []byte("</w:Event")) {
			return true
		}
	}
	return false
}
