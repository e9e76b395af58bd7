package handles

import (
	"testing"
	"time"

	"wefgate/pipeline"
	"wefgate/wef/event"
)

// TestStageSetNoise turns noise dropping on in a running stage, as a
// configuration reload does: the pair before the change is exported, the
// one after is not, and the counts go on.
func TestStageSetNoise(t *testing.T) {
	pair := func(rec, h uint64) []*event.Event {
		return []*event.Event{
			dupEv(rec, 0x7a4, h, 4, 0x138c),
			closeEv(rec+1, 0x7a4, 0x138c, drvinst),
			openEv(rec+2, 0x7a4, h, "Key", certKey, 0x3001f, drvinst),
			closeEv(rec+3, 0x7a4, h, drvinst),
		}
	}
	rules := []NoiseRule{{ObjectType: "Key", ObjectName: `*\SystemCertificates\*`, Image: `*\drvinst.exe`}}
	s := NewStage(Config{Noise: NoiseConfig{Rules: rules}}, nil)
	src := pipeline.Source{Identity: "host1"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exported := func(evs []*event.Event) map[*event.Event]bool {
		out := map[*event.Event]bool{}
		for i, ev := range evs {
			now = now.Add(time.Millisecond)
			for _, st := range s.Add(now, src, ev, pipeline.Position(i)) {
				out[st.Event] = st.Export
			}
		}
		for _, st := range s.Flush() {
			out[st.Event] = st.Export
		}
		return out
	}
	before := pair(1, 0x1ac)
	if got := exported(before); !got[before[0]] || !got[before[1]] {
		t.Fatalf("noise off: by-product pair not exported: %v", got)
	}
	s.SetNoise(NoiseConfig{Mode: NoiseDrop, Rules: rules})
	after := pair(5, 0x1b0)
	if got := exported(after); got[after[0]] || got[after[1]] || !got[after[3]] {
		t.Fatalf("noise drop after SetNoise: pair exported or the real close dropped: %v", got)
	}
	if n := s.c.NoiseCounts(); len(n) != 1 || n[0].Duplicates != 1 {
		t.Errorf("counts after the change: %+v", n)
	}
}
