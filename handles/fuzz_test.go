package handles

import (
	"testing"
	"time"

	"wefgate/wef/event"
)

// FuzzCorrelator drives the correlator with arbitrary event sequences over
// a tiny id space, so that handles, copies and processes collide, and
// checks what must always hold: bounds, per-host order, and every event
// leaving exactly once. raw is used verbatim as an id field, as a hostile
// forwarder could send anything there.
func FuzzCorrelator(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "0x10")
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x10, 0x21, 0xff, 0x00, 0x87}, "0xffffffffffffffff")
	f.Add([]byte("4690 before 4656 and a close"), "")
	f.Fuzz(func(t *testing.T, ops []byte, raw string) {
		cfg := Config{ReorderRecords: 4, ReorderTime: 10 * time.Millisecond, MaxPending: 6,
			MaxHandles: 5, MaxProcesses: 3,
			Noise: NoiseConfig{Mode: NoiseDrop, Rules: []NoiseRule{{ObjectType: "Key"}}, SummaryInterval: 20 * time.Millisecond, MaxKeys: 2}}
		c := NewCorrelator[int](cfg)
		now := replayStart
		seen := make(map[int]bool)
		last := make(map[string]int)
		collect := func(outs []Output[int]) {
			for _, o := range outs {
				if o.Summary != nil {
					continue
				}
				pos := o.Pos
				if seen[pos] {
					t.Fatalf("position %d released twice", pos)
				}
				seen[pos] = true
				if prev, ok := last[o.Host]; ok && pos < prev {
					t.Fatalf("host %s: %d after %d", o.Host, pos, prev)
				}
				last[o.Host] = pos
			}
			s := c.Stats()
			if s.Handles+s.Duplicates > cfg.MaxHandles || s.Processes > cfg.MaxProcesses ||
				s.Pending > cfg.MaxPending || s.Waiting > s.Pending {
				t.Fatalf("bounds exceeded: %+v", s)
			}
			// The byte accounts go to zero exactly when the state they
			// count is empty: nothing is charged twice or forgotten.
			if s.StateBytes < 0 || (s.StateBytes == 0) != (s.Handles+s.Duplicates+s.Processes == 0) ||
				s.PendingBytes < 0 || (s.PendingBytes == 0) != (s.Pending == 0) {
				t.Fatalf("byte accounts do not match the state: %+v", s)
			}
		}
		added := 0
		for i, op := range ops {
			a, b := uint64(op>>4&3), uint64(op>>6)
			var ev *event.Event
			switch op & 0xf {
			case 0, 1:
				ev = dupEv(uint64(i), 0x10+a, 0x20+b, []uint64{4, 0x10 + b}[op&1], 0x30+a)
			case 2:
				ev = openEv(uint64(i), 0x10+a, 0x20+b, "Key", `\REGISTRY\K`, 0x20019, `C:\a.exe`)
			case 3:
				ev = openEv(uint64(i), 0x10+a, 0x30+b, "Process", lsassObj, 0x1010, `C:\b.exe`)
			case 4, 5:
				ev = closeEv(uint64(i), 0x10+a, 0x20+b+uint64(op&1)*0x10, `C:\a.exe`)
			case 6:
				ev = deleteEv(uint64(i), 0x10+a, 0x20+b, `C:\a.exe`)
			case 7:
				ev = accessEv(uint64(i), 0x10+a, 0x20+b, "File", `C:\f`, 1, `C:\a.exe`)
			case 8:
				ev = createdEv(uint64(i), 0x10+a, 0x10+b, `C:\c.exe`, `C:\p.exe`)
			case 9:
				ev = exitedEv(uint64(i), 0x10+a, `C:\c.exe`)
			case 10:
				ev = secEvent(4690, uint64(i), "SourceHandleId", raw, "SourceProcessId", raw,
					"TargetHandleId", raw, "TargetProcessId", raw)
			case 11:
				ev = secEvent(4658, uint64(i), "HandleId", raw, "ProcessId", raw, "ProcessName", raw)
			case 12:
				ev = secEvent(4624, uint64(i))
			case 13:
				now = now.Add(time.Duration(op>>4) * time.Millisecond)
				collect(c.Tick(now))
				continue
			default:
				now = now.Add(time.Millisecond)
				continue
			}
			if op&0x80 != 0 {
				ev.HasRecordID = false
			}
			host := []string{"a", "b"}[i&1]
			ev.Computer = host
			collect(c.Add(now, host, ev, added))
			added++
		}
		collect(c.Flush())
		if len(seen) != added {
			t.Fatalf("%d events in, %d out", added, len(seen))
		}
		if _, ok := c.OldestPending(); ok {
			t.Fatal("pending after Flush")
		}
	})
}
