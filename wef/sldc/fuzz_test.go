package sldc

import (
	"bytes"
	"fmt"
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

// FuzzDifferential holds Decompress to the one-symbol-at-a-time decoder it
// replaced (refDecompress): the same output or the same error, word for
// word, for any input and limit.
func FuzzDifferential(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, 4096)
		f.Add(s, 3)
		f.Add(s[:len(s)/2], 1<<19)
	}
	f.Fuzz(func(t *testing.T, src []byte, maxOut int) {
		maxOut %= 1 << 20
		sameAsReference(t, src, maxOut)
	})
}

// FuzzDifferentialSymbols drives the same comparison with streams of
// well-formed symbols, which random bytes seldom are: each pair of fuzz
// bytes picks a literal, a copy pointer (any count, any displacement,
// overlapping and not-yet-written ones included), a control symbol or
// three bytes of garbage, so the fast loop runs long and is left at every
// kind of symbol.
func FuzzDifferentialSymbols(f *testing.F) {
	f.Add([]byte{0, 'a', 0, 'b', 1, 0x20, 2, 0x10, 0, 0}, 4096)
	f.Add(bytes.Repeat([]byte{0, 'x', 3, 1, 1, 200, 5, 9}, 64), 600)
	f.Add(bytes.Repeat([]byte{0, 'a', 1, 'b', 2, 'c', 3, 'd', 4, 'e', 0x2C, 30, 0x3C, 20, 0x7C, 50, 0xFC, 9, 0x0C, 5}, 40), 1<<16)
	f.Fuzz(func(t *testing.T, prog []byte, maxOut int) {
		maxOut %= 1 << 20
		w := bitWriter{}
		w.write(ctrlReset1, ctrlBits)
		n := 0 // bytes decoded so far, if every copy so far was valid
		for i := 0; i+1 < len(prog); i += 2 {
			op, arg := prog[i], prog[i+1]
			switch op % 16 {
			case 0, 1, 2, 3, 4, 5: // literal
				w.write(uint32(arg), literalBits)
				n++
			case 6, 7, 8, 9, 10, 11: // copy: count from arg, slot from op
				count := minMatch + int(arg)%(maxMatch-minMatch+1)
				if op%16 == 11 {
					// The longest copies (258..271), which a byte
					// argument alone cannot reach.
					count = maxMatch - int(arg)%14
				}
				if op%16 < 9 {
					count = minMatch + int(arg)%30
				}
				writeCopy(&w, count, (int(op)*37+int(arg)*11)&historyMask)
				n += count
			case 12: // a run: a copy 1 to 16 bytes back
				count := minMatch + int(arg)%40
				writeCopy(&w, count, (n-1-int(op>>4))&historyMask)
				n += count
			case 13:
				w.write(ctrlScheme1+uint32(arg%2), ctrlBits)
			case 14:
				w.write(ctrlFlush, ctrlBits)
				w.padTo(padAlignBits)
			case 15:
				w.write(uint32(arg)<<16|uint32(arg)*0x101, 24)
			}
		}
		w.write(ctrlEndOfRecord, ctrlBits)
		w.padTo(16)
		sameAsReference(t, w.dst, maxOut)
	})
}

// sameAsReference fails t unless Decompress and refDecompress give the
// same output and the same error for src.
func sameAsReference(t *testing.T, src []byte, maxOut int) {
	t.Helper()
	got, err := Decompress(src, maxOut)
	want, wantErr := refDecompress(src, maxOut)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output (%d bytes) differs from the reference (%d bytes) at byte %d", len(got), len(want), firstDiff(got, want))
	}
}

// FuzzDecompressor runs two bodies through one Decompressor, each with its
// own limit, releasing the first output before decoding the second, which
// then reuses its buffer (or a too-small one is replaced): the reused
// memory must not leak into the output, and a reused buffer larger than
// the second limit must not let the output pass it.
func FuzzDecompressor(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, s, 4096, 4096)
	}
	f.Add(Compress(eventXML(3)), Compress([]byte("test string")), 1<<19, 1<<19)
	f.Add(Compress([]byte("test string")), Compress(eventXML(3)), 1<<19, 1<<19)
	f.Add(Compress(eventXML(3)), Compress(eventXML(3)), 1<<19, 2000)
	f.Add(Compress(eventXML(6)), Compress(eventXML(3)), 1<<19, len(eventXML(3))-1)
	f.Fuzz(func(t *testing.T, first, second []byte, maxOut1, maxOut2 int) {
		var d Decompressor
		for i, src := range [][]byte{first, second} {
			maxOut := []int{maxOut1, maxOut2}[i] % (1 << 20)
			got, err := d.Decompress(src, maxOut)
			want, wantErr := Decompress(src, maxOut)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("body %d: error %v, want %v", i+1, err, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("body %d: output (%d bytes) differs from Decompress (%d bytes) at byte %d", i+1, len(got), len(want), firstDiff(got, want))
			}
			for k := range got {
				got[k] = 0xEE // what a reused buffer holds next time
			}
			d.Release(got)
		}
	})
}
