package handles

import (
	"strconv"
	"testing"
	"time"

	"wefgate/pipeline"
	"wefgate/wef/event"
	"wefgate/wef/eventfile"
)

// auditedOpens builds the sequence one audited open produces, in the order
// Windows logs it (4690, its copy's 4658, 4656, 4663, 4658), for n opens
// spread over hosts.
func auditedOpens(n, hosts int) ([]string, []*event.Event) {
	var hs []string
	var evs []*event.Event
	for i := range n {
		host := "host" + string(rune('a'+i%hosts))
		rec := uint64(i * 5)
		pid, h, copyH := uint64(0x1000+i%512), uint64(0x100+4*(i%1024)), uint64(0x1644)
		for _, ev := range []*event.Event{
			dupEv(rec+1, pid, h, 4, copyH),
			closeEv(rec+2, pid, copyH, psImage),
			openEv(rec+3, pid, h, "Key", certKey, 0x20019, psImage),
			accessEv(rec+4, pid, h, "Key", certKey, 0x1, psImage),
			closeEv(rec+5, pid, h, psImage),
		} {
			ev.Computer = host
			hs = append(hs, host)
			evs = append(evs, ev)
		}
	}
	return hs, evs
}

// BenchmarkCorrelator measures enrichment throughput on the dominant
// real-world sequence; events/s counts every event added.
func BenchmarkCorrelator(b *testing.B) {
	hosts, evs := auditedOpens(20_000, 16)
	size := 0
	for _, ev := range evs {
		size += len(ev.EventData) * 32
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	added := 0
	for b.Loop() {
		c := NewCorrelator[int](Config{})
		now := replayStart
		for i, ev := range evs {
			if i%16 == 0 {
				now = now.Add(time.Millisecond)
			}
			c.Add(now, hosts[i], ev, i)
		}
		c.Flush()
		added += len(evs)
	}
	b.ReportMetric(float64(added)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkCorrelatorPartnerless measures the worst case: nothing matches,
// every bound is hit and every waiting event is released by its window.
func BenchmarkCorrelatorPartnerless(b *testing.B) {
	g := newPartnerless(64)
	hosts := make([]string, 100_000)
	evs := make([]*event.Event, 100_000)
	for i := range evs {
		hosts[i], evs[i] = g.next()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	added := 0
	for b.Loop() {
		c := NewCorrelator[int](Config{MaxHandles: 50_000, MaxProcesses: 10_000, MaxPending: 4096})
		now := replayStart
		for i, ev := range evs {
			if i%20 == 0 {
				now = now.Add(time.Millisecond)
			}
			c.Add(now, hosts[i], ev, i)
		}
		c.Flush()
		added += len(evs)
	}
	b.ReportMetric(float64(added)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkCorrelatorGenerated replays the project's synthetic Security
// stream (logons, processes, opens, accesses, duplications, closes) from
// eight hosts, parsed beforehand.
func BenchmarkCorrelatorGenerated(b *testing.B) {
	var hosts []string
	var evs []*event.Event
	for h := range 8 {
		host := "gen" + strconv.Itoa(h) + ".example.test"
		for _, raw := range eventfile.Generate(10_000, host, int64(h)) {
			hosts = append(hosts, host)
			evs = append(evs, event.Parse([]byte(raw)))
		}
	}
	// Interleave the hosts as a collector receiving from all at once sees them.
	order := make([]int, 0, len(evs))
	for i := range 10_000 {
		for h := range 8 {
			order = append(order, h*10_000+i)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	added := 0
	for b.Loop() {
		c := NewCorrelator[int](Config{})
		now := replayStart
		for n, i := range order {
			if n%16 == 0 {
				now = now.Add(time.Millisecond)
			}
			c.Add(now, hosts[i], evs[i], n)
		}
		c.Flush()
		added += len(order)
	}
	b.ReportMetric(float64(added)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkStageGenerated runs the synthetic stream of
// BenchmarkCorrelatorGenerated through a Stage as the shipper does:
// deliveries of 50 events per host, each event added with its delivery's
// Source and position.
func BenchmarkStageGenerated(b *testing.B) {
	const hostsN, perHost, batch = 8, 10_000, 50
	type delivery struct {
		src pipeline.Source
		evs []*event.Event
	}
	var ds []delivery
	for h := range hostsN {
		host := "gen" + strconv.Itoa(h) + ".example.test"
		src := pipeline.Source{Identity: host, Address: "192.0.2.1", Subscription: "handles", Received: replayStart}
		raws := eventfile.Generate(perHost, host, int64(h))
		for i := 0; i < len(raws); i += batch {
			d := delivery{src: src}
			for _, raw := range raws[i:min(i+batch, len(raws))] {
				d.evs = append(d.evs, event.Parse([]byte(raw)))
			}
			ds = append(ds, d)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	released := 0
	for b.Loop() {
		s := NewStage(Config{}, nil)
		now := replayStart
		for n, d := range ds {
			now = now.Add(time.Millisecond)
			for _, ev := range d.evs {
				released += len(s.Add(now, d.src, ev, pipeline.Position(n+1)))
			}
			if n%20 == 0 {
				released += len(s.Tick(now))
			}
		}
		released += len(s.Flush())
	}
	b.ReportMetric(float64(b.N*hostsN*perHost)/b.Elapsed().Seconds(), "events/s")
}
