package sldc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns the Windows captures when present plus streams produced
// by Compress, so the fuzzer starts from valid encodings.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	if dir, err := findSampleDir(); err == nil {
		for _, name := range []string{"heartbeat.sldc.bin", "sldc-test-string.sldc.bin"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	for _, plain := range [][]byte{nil, []byte("test string"), eventXML(2), make([]byte, 600)} {
		seeds = append(seeds, Compress(plain))
	}
	return seeds
}

func FuzzDecompress(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, 4096)
	}
	f.Fuzz(func(t *testing.T, src []byte, maxOut int) {
		maxOut %= 1 << 20 // keep each run's memory small
		out, err := Decompress(src, maxOut)
		if err == nil && len(out) > max(maxOut, 0) {
			t.Fatalf("output %d bytes exceeds limit %d", len(out), maxOut)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("test string"))
	f.Add(eventXML(1))
	f.Add(bytes.Repeat([]byte{0xFF, 0x00}, 700))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := Compress(in)
		got, err := Decompress(c, len(in))
		if err != nil {
			t.Fatalf("Decompress(Compress(%d bytes)): %v", len(in), err)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("round trip differs at byte %d", firstDiff(got, in))
		}
	})
}
