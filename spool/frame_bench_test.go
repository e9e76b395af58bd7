package spool

import "testing"

func BenchmarkFrame(b *testing.B) {
	payload := benchPayloads(1)[0]
	for _, comp := range []string{"zstd", "s2", "none"} {
		b.Run(comp, func(b *testing.B) {
			c, err := newCodec(comp)
			if err != nil {
				b.Fatal(err)
			}
			defer c.close()
			b.SetBytes(int64(len(payload)))
			var n int
			for b.Loop() {
				n = len(c.frame(payload))
			}
			b.ReportMetric(float64(len(payload))/float64(n-headerSize), "ratio")
		})
	}
}
