package soap_test

import (
	"testing"

	"wefgate/wef/eventfile"
	"wefgate/wef/soap"
)

// loadBatch is the delivery `wefgate load -profile throughput` replays:
// 192 generated Security events, as UTF-16LE with its BOM (about 500 KB).
func loadBatch() []byte {
	pool := eventfile.Generate(192, "WKS01.corp.example", 1)
	events := make([][]byte, len(pool))
	for i, e := range pool {
		events[i] = []byte(e)
	}
	req := soap.Request{Action: soap.ActionEvents, To: "https://wec:5986/wsman/subscriptions/A", MessageID: "uuid:1",
		Identifier: "A", Version: "B", Bookmark: `<BookmarkList><Bookmark Channel="Security" RecordId="192" IsCurrent="true"/></BookmarkList>`,
		Body: soap.EventsBody(events)}
	return soap.EncodeUTF16LE(req.Build())
}

// BenchmarkBatchDecodeText reports throughput in UTF-16 bytes.
func BenchmarkBatchDecodeText(b *testing.B) {
	wire := loadBatch()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		soap.DecodeText(wire)
	}
}

// BenchmarkBatchParse reports throughput in UTF-8 bytes of envelope.
func BenchmarkBatchParse(b *testing.B) {
	text, _ := soap.DecodeText(loadBatch())
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := soap.Parse(text)
		if err != nil || len(m.Events) != 192 {
			b.Fatal(err)
		}
	}
}
