package event_test

import (
	"testing"

	"wefgate/wef/event"
	"wefgate/wef/eventfile"
)

// BenchmarkParseGenerated parses the mix that `wefgate load` sends (4624,
// 4656, 4658, 4663, 4688, 4689, 4690 as forwarded with ContentFormat=Raw);
// one op is one event.
func BenchmarkParseGenerated(b *testing.B) {
	var events [][]byte
	size := 0
	for _, s := range eventfile.Generate(512, "ws-fin-0042.corp.example.com", 1) {
		events = append(events, []byte(s))
		size += len(s)
	}
	b.SetBytes(int64(size / len(events)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if ev := event.Parse(events[i%len(events)]); ev.EventID == 0 || ev.Problem != nil {
			b.Fatal("bad parse")
		}
		i++
	}
}
