package spool

import (
	"context"
	"sync"
	"testing"
	"time"
	"wefgate/internal/cputime"
)

const benchPayloadSize = 16 << 10

func benchPayloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = eventXML(i*40, benchPayloadSize)[:benchPayloadSize]
	}
	return out
}

func BenchmarkAppend(b *testing.B) {
	payloads := benchPayloads(64)
	for _, comp := range []string{"zstd", "s2", "none"} {
		opts := Options{Compression: comp, MaxBytes: 8 << 30}
		b.Run(comp+"/serial", func(b *testing.B) {
			s := openTest(b, b.TempDir(), opts)
			b.SetBytes(benchPayloadSize)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Append(context.Background(), payloads[i%len(payloads)]); err != nil {
					b.Fatal(err)
				}
			}
			reportSyncs(b, s)
		})
		b.Run(comp+"/parallel", func(b *testing.B) {
			s := openTest(b, b.TempDir(), opts)
			b.SetBytes(benchPayloadSize)
			b.SetParallelism(16) // many forwarders at once, as in production
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.Append(context.Background(), payloads[i%len(payloads)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			reportSyncs(b, s)
		})
	}
}

func reportSyncs(b *testing.B, s *Spool) {
	st := s.Stats()
	if st.Fsyncs > 0 {
		b.ReportMetric(float64(st.Appends)/float64(st.Fsyncs), "appends/fsync")
	}
}

func BenchmarkRead(b *testing.B) {
	payloads := benchPayloads(64)
	for _, comp := range []string{"zstd", "s2", "none"} {
		b.Run(comp, func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{Compression: comp})
			const entries = 2000
			ctx := context.Background()
			for i := 0; i < entries; i++ {
				if _, err := s.Append(ctx, payloads[i%len(payloads)]); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(benchPayloadSize)
			b.ResetTimer()
			var after Position
			for b.Loop() {
				if after == entries {
					after = 0
				}
				e, err := s.Read(ctx, after, 1)
				if err != nil {
					b.Fatal(err)
				}
				after = e[0].Pos
			}
		})
	}
}

// BenchmarkCommit measures persisting a consumer's position: one op is one
// Commit of the next entry, the worst case of a shipper that commits after
// every delivery.
func BenchmarkCommit(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{MaxBytes: 8 << 30})
	ctx := context.Background()
	payload := benchPayloads(1)[0][:512]
	fill := func() {
		var wg sync.WaitGroup
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 16; i++ {
					if _, err := s.Append(ctx, payload); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	fill()
	next := s.Stats().Committed + 1
	var cpu time.Duration
	for b.Loop() {
		if next > s.Stats().Last {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		c0 := cputime.Self()
		if err := s.Commit(next); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Self() - c0
		next++
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
