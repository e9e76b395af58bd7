package sldc

import "testing"

// benchmarkInput is about 64 KiB of UTF-16LE Security event XML, the size
// of a busy delivery batch.
func benchmarkInput() []byte {
	return eventXML(46)[:64<<10]
}

func BenchmarkCompress(b *testing.B) {
	in := benchmarkInput()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		out = Compress(in)
	}
	b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
}

// BenchmarkDecompress reports throughput in uncompressed bytes.
func BenchmarkDecompress(b *testing.B) {
	in := benchmarkInput()
	c := Compress(in)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decompress(c, len(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecompressor is BenchmarkDecompress with the output released
// after each body, as the gateway does.
func BenchmarkDecompressor(b *testing.B) {
	in := benchmarkInput()
	c := Compress(in)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var d Decompressor
	for b.Loop() {
		out, err := d.Decompress(c, len(in))
		if err != nil {
			b.Fatal(err)
		}
		d.Release(out)
	}
}
