package soap

import (
	"bytes"
	"strings"
	"testing"
)

func eventsEnvelope(body string) []byte {
	req := Request{Action: ActionEvents, To: "http://x/wsman/subscriptions/A", MessageID: NewMessageID(),
		Body: []byte(`<w:Events>` + body + `</w:Events>`)}
	return req.Build()
}

// TestEmptyEventsCounted: an empty w:Event element is counted, never
// handed on as an event (issue 10 part 2: 838,656 of them made as many
// records).
func TestEmptyEventsCounted(t *testing.T) {
	ev := `<w:Event Action="` + ActionEvent + `"><![CDATA[<Event><System><EventID>4658</EventID></System></Event>]]></w:Event>`
	tests := []struct {
		name   string
		body   string
		events int
		empty  int
	}{
		{"void", `<w:Event/>`, 0, 1},
		{"open-close", `<w:Event></w:Event>`, 0, 1},
		{"white space", "<w:Event> \r\n\t</w:Event>", 0, 1},
		{"empty CDATA", `<w:Event><![CDATA[]]></w:Event>`, 0, 1},
		{"mixed", ev + strings.Repeat(`<w:Event/>`, 1000) + ev, 2, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(eventsEnvelope(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Events) != tt.events || m.EmptyEvents != tt.empty || m.EventElements() != tt.events+tt.empty {
				t.Fatalf("events %d empty %d, want %d and %d", len(m.Events), m.EmptyEvents, tt.events, tt.empty)
			}
			for _, e := range m.Events {
				if len(e) == 0 {
					t.Fatal("an empty event was handed on")
				}
			}
		})
	}
}

func TestEnvelopeSize(t *testing.T) {
	for _, tt := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"<a/>", 4},
		{"é", 1},          // two UTF-8 bytes, one UTF-16 unit
		{"€", 1},          // three bytes, one unit
		{"\U0001F600", 2}, // four bytes, a surrogate pair
	} {
		if got := EnvelopeSize([]byte(tt.text)); got != tt.want {
			t.Errorf("EnvelopeSize(%q) = %d, want %d", tt.text, got, tt.want)
		}
		// The size is the UTF-16 encoding's, without the BOM.
		if got := (len(EncodeUTF16LE([]byte(tt.text))) - 2) / 2; got != tt.want && tt.text != "" {
			t.Errorf("UTF-16 length of %q is %d, EnvelopeSize %d", tt.text, got, tt.want)
		}
	}
}

func TestEncodingLimitFault(t *testing.T) {
	req := &Message{MessageID: "uuid:31652DEB-C9E8-45D6-B3E8-90AC64D48422", ReplyTo: AddressAnonymous}
	b := EncodingLimitFault(req, FaultDetailMaxEnvelopeSize, TooLarge("envelope of", 600000, 512000)+" <&>")
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Action != ActionFault || m.BodyElement != "Fault" {
		t.Fatalf("fault parsed as %+v", m)
	}
	for _, want := range []string{"<s:Value>w:EncodingLimit</s:Value>", "<a:RelatesTo>" + req.MessageID + "</a:RelatesTo>",
		FaultDetailMaxEnvelopeSize, "envelope of 600000 exceeds", "limit of 512000 &lt;&amp;&gt;"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("fault lacks %q:\n%s", want, b)
		}
	}
}
