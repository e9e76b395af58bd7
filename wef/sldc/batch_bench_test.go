package sldc_test

import (
	"testing"

	"wefgate/wef/eventfile"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// BenchmarkDecompressBatch decodes the delivery `wefgate load -profile
// throughput` replays (192 generated Security events, about 500 KB of
// UTF-16 compressed about 3:1) through a Decompressor, as the gateway
// does; throughput in uncompressed bytes.
func BenchmarkDecompressBatch(b *testing.B) {
	pool := eventfile.Generate(192, "WKS01.corp.example", 1)
	events := make([][]byte, len(pool))
	for i, e := range pool {
		events[i] = []byte(e)
	}
	req := soap.Request{Action: soap.ActionEvents, To: "https://wec:5986/wsman/subscriptions/A", MessageID: "uuid:1",
		Identifier: "A", Version: "B", Bookmark: "<BookmarkList/>", Body: soap.EventsBody(events)}
	plain := soap.EncodeUTF16LE(req.Build())
	c := sldc.Compress(plain)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var d sldc.Decompressor
	for b.Loop() {
		out, err := d.Decompress(c, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		d.Release(out)
	}
}
