package handles

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"wefgate/wef/event"
)

// partnerless generates events that never find a partner: 4690s whose
// source is never opened, opens never closed, processes that never exit,
// closes of unknown handles and accesses on unknown handles, spread over
// hosts, with unique handle and process ids.
type partnerless struct {
	hosts []string
	n     uint64
}

func newPartnerless(hosts int) *partnerless {
	g := &partnerless{}
	for i := range hosts {
		g.hosts = append(g.hosts, "host"+strconv.Itoa(i)+".example.test")
	}
	return g
}

func (g *partnerless) next() (string, *event.Event) {
	g.n++
	n := g.n
	host := g.hosts[n%uint64(len(g.hosts))]
	rec := n / uint64(len(g.hosts))
	pid, h := 0x1000+n%0x10000, n*4
	var ev *event.Event
	switch n % 5 {
	case 0:
		ev = dupEv(rec, pid, h, 4, h+2)
	case 1:
		ev = openEv(rec, pid, h, "Key", `\REGISTRY\MACHINE\SOFTWARE\Gen`, 0x20019, `C:\gen.exe`)
	case 2:
		ev = createdEv(rec, n, pid, `C:\gen.exe`, `C:\parent.exe`)
	case 3:
		ev = closeEv(rec, pid, h, `C:\gen.exe`)
	default:
		ev = accessEv(rec, pid, h, "File", `C:\gen.txt`, 0x1, `C:\gen.exe`)
	}
	ev.Computer = host
	return host, ev
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestMemoryBound(t *testing.T) {
	total := 2_000_000
	if testing.Short() {
		total = 200_000
	}
	cfg := Config{MaxHandles: 50_000, MaxProcesses: 10_000, MaxPending: 4096, ReorderRecords: 256}
	const heapLimit = 128 << 20
	const hosts = 64

	c := NewCorrelator[int](cfg)
	g := newPartnerless(hosts)
	now := replayStart
	released := 0
	check := func(i int) {
		s := c.Stats()
		if s.Handles+s.Duplicates > cfg.MaxHandles || s.Processes > cfg.MaxProcesses ||
			s.Pending > cfg.MaxPending || s.Waiting > s.Pending || s.Hosts > hosts {
			t.Fatalf("after %d events: bounds exceeded: %+v", i, s)
		}
	}
	for i := 1; i <= total; i++ {
		// 20,000 events per second: the window closes by records first.
		if i%20 == 0 {
			now = now.Add(time.Millisecond)
		}
		host, ev := g.next()
		released += len(c.Add(now, host, ev, i))
		if i%10_000 == 0 {
			check(i)
		}
		if i == total/2 || i == total {
			if heap := heapInUse(); heap > heapLimit {
				t.Fatalf("after %d events: heap in use %d MiB, limit %d MiB", i, heap>>20, heapLimit>>20)
			} else {
				t.Logf("after %d events: heap in use %.1f MiB, stats %+v", i, float64(heap)/(1<<20), c.Stats())
			}
		}
	}
	released += len(c.Flush())
	if released != total {
		t.Fatalf("%d events in, %d out", total, released)
	}
	s := c.Stats()
	if s.HandlesEvicted == 0 || s.ProcessesEvicted == 0 || s.PendingExpired == 0 {
		t.Errorf("bounds never reached, the test proves nothing: %+v", s)
	}
}
