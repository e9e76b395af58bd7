package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wefgate/internal/cputime"
	"wefgate/record"
	"wefgate/spool"
	"wefgate/wef/event"
)

// benchEvents returns a delivery of n Security 4690 events as a forwarder
// sends them (about 900 bytes of XML each), parsed as the endpoint parses
// them.
func benchEvents(n int) *Delivery {
	d := &Delivery{Source: Source{Identity: "ws01.corp.example.com", Address: "192.0.2.10",
		Subscription: "handles", SubscriptionID: "3F2504E0-4F89-11D3-9A0C-0305E82C3301", Received: time.Now()}}
	for i := 0; i < n; i++ {
		d.Events = append(d.Events, event.Parse(fmt.Appendf(nil, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4690</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-21T06:30:%02d.%07dZ'/><EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='%d'/><Channel>Security</Channel><Computer>ws01.corp.example.com</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS01$</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x3e7</Data><Data Name='SourceHandleId'>0x%x</Data><Data Name='SourceProcessId'>0x2a8</Data><Data Name='TargetHandleId'>0x%x</Data><Data Name='TargetProcessId'>0x4</Data></EventData></Event>`,
			i%60, i*7919%10000000, 100000+i, 100+i%900, 0x1000+4*i, 0x2000+8*i)))
	}
	return d
}

func deliveryBytes(d *Delivery) int64 {
	var n int64
	for _, ev := range d.Events {
		n += int64(len(ev.Raw))
	}
	return n
}

// BenchmarkSpoolSinkAccept measures the endpoint's durable hand-off with
// many forwarders at once (group commit shares the fsyncs), for each spool
// compression: cpu-µs/delivery is the process's CPU time per delivery
// (encode, compress, write, fsync), spool-B/delivery the bytes it takes on
// disk.
func BenchmarkSpoolSinkAccept(b *testing.B) {
	for _, comp := range []string{"zstd", "s2", "none"} {
		b.Run(comp, func(b *testing.B) {
			sp, err := spool.Open(b.TempDir(), spool.Options{MaxBytes: 8 << 30, Compression: comp}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			sink := NewSpoolSink(sp)
			d := benchEvents(50)
			b.SetBytes(deliveryBytes(d))
			b.SetParallelism(16)
			b.ResetTimer()
			cpu0 := cputime.Self()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := sink.Accept(context.Background(), d); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cputime.Self()-cpu0).Microseconds())/float64(b.N), "cpu-µs/delivery")
			b.ReportMetric(float64(sp.Stats().BytesOnDisk)/float64(b.N), "spool-B/delivery")
		})
	}
}

type discardExporter struct{ name string }

func (e discardExporter) Name() string {
	if e.name == "" {
		return "discard"
	}
	return e.name
}
func (discardExporter) Export(context.Context, []record.Record) error { return nil }
func (discardExporter) Close(context.Context) error                   { return nil }

// BenchmarkShipper measures draining the spool (read, decode, stage, map,
// export to a no-op exporter, commit); one op is one 50-event delivery.
// "fields" is today's spool encoding, which carries the fields the
// endpoint parsed; "xml+parse" the former one (XML only), whose events the
// shipper parses again; "fields/exporters=2" ships to two exporters, which
// share one read, decode and mapping of each entry. cpu-µs/delivery is the
// process's CPU time per delivery, steadier than ns/op on a busy machine.
func BenchmarkShipper(b *testing.B) {
	for _, tc := range []struct {
		name      string
		encode    func(*Delivery) []byte
		exporters int
	}{
		{"fields", EncodeDelivery, 1},
		{"fields/exporters=2", EncodeDelivery, 2},
		{"xml+parse", encodeDeliveryV1, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var outs []Exporter
			var names []string
			for i := range tc.exporters {
				e := discardExporter{name: fmt.Sprintf("discard%d", i)}
				outs, names = append(outs, e), append(names, e.Name())
			}
			sp, err := spool.Open(b.TempDir(), spool.Options{MaxBytes: 8 << 30, Consumers: names}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			d := benchEvents(50)
			payload := tc.encode(d)
			var wg sync.WaitGroup
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += 16 {
						if _, err := sp.Append(context.Background(), payload); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			sh, err := NewShipper(sp, nil, testMap, outs, ShipperOptions{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			b.SetBytes(deliveryBytes(d))
			b.ResetTimer()
			cpu0 := cputime.Self()
			go func() { done <- sh.Run(ctx) }()
			for sp.Stats().Committed < spool.Position(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64((cputime.Self()-cpu0).Microseconds())/float64(b.N), "cpu-µs/delivery")
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// syncExporter appends a line per record to a file and fsyncs once per
// Export, as the file exporter does, so that the cost of one export call
// shows in the figures.
type syncExporter struct {
	f       *os.File
	exports atomic.Uint64
}

func (e *syncExporter) Name() string { return "sync" }
func (e *syncExporter) Export(_ context.Context, recs []record.Record) error {
	var buf []byte
	for _, r := range recs {
		buf = append(buf, r.HostName...)
		buf = append(buf, '\n')
	}
	if _, err := e.f.Write(buf); err != nil {
		return err
	}
	e.exports.Add(1)
	return e.f.Sync()
}
func (e *syncExporter) Close(context.Context) error { return e.f.Close() }

// BenchmarkShipperFleet is the fleet shape of issue 11: 200 hosts, each
// delivering one small batch every 100 ms (2,000 deliveries/s offered),
// through the spool to an exporter that fsyncs every export call, as the
// file exporter does. One op is one delivery, from Accept to committed.
// cpu-µs/delivery is the process's CPU time (ingest and shipper) per
// delivery: the figure that grows when each delivery costs its own export
// and commit; exports/delivery counts export calls (each an fsync).
func BenchmarkShipperFleet(b *testing.B) {
	for _, events := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			dir := b.TempDir()
			sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{MaxBytes: 8 << 30, Consumers: []string{"sync"}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			f, err := os.Create(filepath.Join(dir, "out"))
			if err != nil {
				b.Fatal(err)
			}
			exp := &syncExporter{f: f}
			defer exp.Close(context.Background())
			sh, err := NewShipper(sp, nil, testMap, []Exporter{exp}, ShipperOptions{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sh.Run(ctx) }()
			sink := NewSpoolSink(sp)
			d := benchEvents(events)
			const hosts, every = 200, 100 * time.Millisecond
			b.ResetTimer()
			cpu0 := cputime.Self()
			var wg sync.WaitGroup
			for w := 0; w < hosts; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(every * time.Duration(w) / hosts)
					t := time.NewTicker(every)
					defer t.Stop()
					for i := w; i < b.N; i += hosts {
						if err := sink.Accept(context.Background(), d); err != nil {
							b.Error(err)
							return
						}
						<-t.C
					}
				}()
			}
			wg.Wait()
			for sp.Stats().Committed < spool.Position(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64((cputime.Self()-cpu0).Microseconds())/float64(b.N), "cpu-µs/delivery")
			b.ReportMetric(float64(exp.exports.Load())/float64(b.N), "exports/delivery")
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
