package sldc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
	"wefgate/internal/samples"
)

// findSampleDir locates the shared WEF samples folder.
func findSampleDir() (string, error) {
	s := samples.Find()
	if s == "" {
		return "", errors.New("shared samples not present")
	}
	return filepath.Join(s, "wef"), nil
}

// sampleDir is findSampleDir for tests that need the samples.
func sampleDir(t testing.TB) string {
	t.Helper()
	dir, err := findSampleDir()
	if err != nil {
		t.Skip(err)
	}
	return dir
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir(t), name))
	if err != nil {
		t.Skipf("sample %s unavailable: %v", name, err)
	}
	return b
}

func utf16le(s string) []byte {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(units))
	b[0], b[1] = 0xFF, 0xFE
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// eventXML synthesises n Security 4658/4690 events as UTF-16LE, the content
// WEF clients actually compress.
func eventXML(n int) []byte {
	var sb strings.Builder
	for i := range n {
		id := 4658 + (i%2)*32
		sb.WriteString(`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>`)
		sb.WriteString(`<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>`)
		sb.WriteString(`<EventID>` + itoa(id) + `</EventID><Version>0</Version><Level>0</Level><Task>12804</Task>`)
		sb.WriteString(`<Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-21T06:`)
		sb.WriteString(itoa(10+i%50) + `:` + itoa(10+i%47) + `.` + itoa(100000+i*7919%900000) + `Z'/>`)
		sb.WriteString(`<EventRecordID>` + itoa(1000000+i) + `</EventRecordID><Correlation/>`)
		sb.WriteString(`<Execution ProcessID='4' ThreadID='` + itoa(100+i%64) + `'/><Channel>Security</Channel>`)
		sb.WriteString(`<Computer>WKS` + itoa(10000+i%13) + `.corp.example</Computer><Security/></System><EventData>`)
		sb.WriteString(`<Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WKS$</Data>`)
		sb.WriteString(`<Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x3e7</Data>`)
		sb.WriteString(`<Data Name='ObjectServer'>Security</Data><Data Name='HandleId'>0x` + itoa(0x1a0+i*4) + `</Data>`)
		sb.WriteString(`<Data Name='ProcessId'>0x` + itoa(300+i%17) + `</Data>`)
		sb.WriteString(`<Data Name='ProcessName'>C:\Windows\System32\lsass.exe</Data></EventData></Event>`)
	}
	return utf16le(sb.String())
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

func TestDecompressWindowsCaptures(t *testing.T) {
	tests := []struct {
		name, compressed, want string
		wantText               string
	}{
		{name: "heartbeat", compressed: "heartbeat.sldc.bin", want: "heartbeat.utf16le.bin"},
		{name: "test string", compressed: "sldc-test-string.sldc.bin", wantText: "test string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := readSample(t, tt.compressed)
			want := []byte(tt.wantText)
			if tt.want != "" {
				want = readSample(t, tt.want)
			}
			got, err := Decompress(src, 1<<20)
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Decompress = %d bytes, want %d bytes (first diff at %d)", len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

func TestDecompressExactLimit(t *testing.T) {
	src := readSample(t, "heartbeat.sldc.bin")
	if _, err := Decompress(src, 3042); err != nil {
		t.Fatalf("limit equal to output size: %v", err)
	}
	if _, err := Decompress(src, 3041); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit one below output size: err = %v, want ErrTooLarge", err)
	}
}

// TestCompressHeartbeat checks the ratio on real WEF content against what
// Windows itself achieved (3042 -> 1006 bytes) and the Windows trailer shape.
func TestCompressHeartbeat(t *testing.T) {
	plain := readSample(t, "heartbeat.utf16le.bin")
	windows := readSample(t, "heartbeat.sldc.bin")
	got := Compress(plain)
	t.Logf("heartbeat: %d -> %d bytes (Windows: %d), ratio %.2f", len(plain), len(got), len(windows), float64(len(plain))/float64(len(got)))
	if len(got) > len(windows)*11/10 {
		t.Errorf("compressed to %d bytes, more than 10%% above Windows' %d", len(got), len(windows))
	}
	if !bytes.Equal(got[:2], windows[:2]) {
		t.Errorf("stream starts % x, Windows starts % x", got[:2], windows[:2])
	}
	if n := binary.LittleEndian.Uint32(got[len(got)-4:]); n != uint32(len(plain)) {
		t.Errorf("length trailer = %d, want %d", n, len(plain))
	}
	if (len(got)-4)%2 != 0 {
		t.Errorf("stream before trailer is %d bytes, want a 16-bit multiple like Windows", len(got)-4)
	}
	back, err := Decompress(got, len(plain))
	if err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("round trip failed: err=%v equal=%v", err, bytes.Equal(back, plain))
	}
}

func TestRoundTrip(t *testing.T) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// A block just over the history size, repeated: matches start at the
	// far edge of the window.
	block := make([]byte, historySize+5)
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	edge := bytes.Repeat(block, 4)
	// Exactly one history size: every repeat is at distance 1024, which the
	// encoder must not use.
	exact := bytes.Repeat(block[:historySize], 4)

	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0x42}},
		{"0xFF byte", []byte{0xFF}},
		{"all byte values", allBytes},
		{"all byte values twice", append(append([]byte{}, allBytes...), allBytes...)},
		{"run of zeros", make([]byte, 10000)},
		{"run of 0xFF", bytes.Repeat([]byte{0xFF}, 5000)},
		{"UTF-16 run", bytes.Repeat([]byte{' ', 0}, 3000)},
		{"two-byte repeats", []byte("abxabyab")},
		{"random", random},
		{"repeats beyond history", edge},
		{"repeats at history size", exact},
		{"event XML 1 MiB", eventXML(1000)[:1<<20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compress(tt.in)
			got, err := Decompress(c, len(tt.in))
			if err != nil {
				t.Fatalf("Decompress(Compress(%d bytes)): %v", len(tt.in), err)
			}
			if !bytes.Equal(got, tt.in) {
				t.Fatalf("round trip differs at byte %d of %d", firstDiff(got, tt.in), len(tt.in))
			}
		})
	}
}

// TestSegmentsJoin checks that segments appended in any order and closed
// by End decode to their inputs in that order, and that the stream ends as
// Compress's does (END_OF_RECORD, 16-bit padding, the length).
func TestSegmentsJoin(t *testing.T) {
	header := []byte(strings.Repeat("<s:Header>host one</s:Header>", 40))
	events := eventXML(12)
	short := []byte{0xFF, 0x01}
	tests := []struct {
		name  string
		parts [][]byte
	}{
		{"one segment", [][]byte{events}},
		{"header then events", [][]byte{header, events}},
		{"events then header", [][]byte{events, header}},
		{"empty segment between", [][]byte{header, nil, events}},
		{"odd lengths", [][]byte{short, header[:3], short}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream, want []byte
			for _, p := range tt.parts {
				seg := Segment(p)
				if len(seg)%4 != 0 {
					t.Fatalf("segment of %d bytes is not a whole number of 32-bit words", len(seg))
				}
				stream = append(stream, seg...)
				want = append(want, p...)
			}
			stream = End(stream, len(want))
			got, err := Decompress(stream, len(want))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("joined segments differ at byte %d of %d", firstDiff(got, want), len(want))
			}
			if n := binary.LittleEndian.Uint32(stream[len(stream)-4:]); int(n) != len(want) {
				t.Fatalf("length trailer %d, want %d", n, len(want))
			}
		})
	}
}

func TestCompressRatio(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		maxRatio float64 // compressed/original
	}{
		{"event XML", eventXML(50), 0.35},
		{"run of zeros", make([]byte, 10000), 0.05},
		{"repeats beyond history", bytes.Repeat([]byte("0123456789abcdef"), 1000), 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compress(tt.in)
			ratio := float64(len(c)) / float64(len(tt.in))
			t.Logf("%d -> %d bytes (%.3f)", len(tt.in), len(c), ratio)
			if ratio > tt.maxRatio {
				t.Errorf("compressed/original = %.3f, want <= %.3f", ratio, tt.maxRatio)
			}
		})
	}
}

// TestCompressOnlyWindowsSymbols decodes Compress output symbol by symbol and
// checks it stays within what Windows emits: one RESET_1, scheme-1 symbols,
// non-overlapping copies within the written history, one END_OF_RECORD.
func TestCompressOnlyWindowsSymbols(t *testing.T) {
	in := append(eventXML(20), bytes.Repeat([]byte{'a', 0}, 2000)...)
	c := Compress(in)
	r := newBitReader(c)
	if code := r.peek(ctrlBits); code != ctrlReset1 {
		t.Fatalf("first symbol %#x, want RESET_1", code)
	}
	r.skip(ctrlBits)
	n := 0
	for {
		v := r.peek(maxPeekBits)
		if v>>(maxPeekBits-9) == ctrlPrefix {
			if code := v >> (maxPeekBits - ctrlBits); code != ctrlEndOfRecord {
				t.Fatalf("control symbol %#x inside data", code)
			}
			break
		}
		if v>>(maxPeekBits-1) == 0 {
			r.skip(9)
			n++
			continue
		}
		count, disp, bits := decodeCopyPointer(v)
		dist := (n-disp-1)&historyMask + 1
		if dist > n || dist < count || dist >= historySize {
			t.Fatalf("copy at output %d: count %d distance %d", n, count, dist)
		}
		r.skip(bits)
		n += count
	}
	if n != len(in) {
		t.Fatalf("symbols cover %d bytes, want %d", n, len(in))
	}
}

// stream assembles a bit stream from (value, bits) pairs for hand-made test
// vectors.
func stream(fields ...uint32) []byte {
	var w bitWriter
	for i := 0; i+1 < len(fields); i += 2 {
		w.write(fields[i], uint(fields[i+1]))
	}
	w.padTo(8)
	return w.dst
}

func TestDecompressHandMade(t *testing.T) {
	lit := func(b byte) []uint32 { return []uint32{uint32(b), 9} }
	ctrl := func(c uint32) []uint32 { return []uint32{c, ctrlBits} }
	cp := func(count, disp int) []uint32 {
		f, n := matchCountField(count)
		return []uint32{1, 1, f, uint32(n), uint32(disp), displacementBits}
	}
	join := func(parts ...[]uint32) []byte {
		var all []uint32
		for _, p := range parts {
			all = append(all, p...)
		}
		return stream(all...)
	}

	tests := []struct {
		name    string
		src     []byte
		want    string
		wantErr error
	}{
		{
			name: "scheme 2 with escaped 0xFF",
			src:  join(ctrl(ctrlReset2), []uint32{'a', 8, 0xFF << 1, 9, 'b', 8}, ctrl(ctrlEndOfRecord)),
			want: "a\xffb",
		},
		{
			name: "overlapping copy repeats",
			src:  join(ctrl(ctrlReset1), lit('x'), lit('y'), cp(6, 0), ctrl(ctrlEndOfRecord)),
			want: "xyxyxyxy",
		},
		{
			name: "scheme switch keeps history",
			src:  join(ctrl(ctrlReset2), []uint32{'a', 8, 'b', 8}, ctrl(ctrlScheme1), cp(2, 0), ctrl(ctrlEndOfRecord)),
			want: "abab",
		},
		{
			name:    "reset clears history",
			src:     join(ctrl(ctrlReset1), lit('a'), lit('b'), ctrl(ctrlReset1), cp(2, 0), ctrl(ctrlEndOfRecord)),
			wantErr: ErrCorrupt,
		},
		{
			name: "history slots follow the reset",
			src:  join(ctrl(ctrlReset1), lit('a'), ctrl(ctrlReset1), lit('b'), lit('c'), cp(2, 0), ctrl(ctrlEndOfRecord)),
			want: "abcbc",
		},
		{
			name: "flush pads to 32 bits and continues",
			src:  join(ctrl(ctrlReset1), lit('a'), ctrl(ctrlFlush), []uint32{0, 64 - 13 - 9 - 13}, lit('b'), ctrl(ctrlEndOfRecord)),
			want: "ab",
		},
		{
			name: "end marker terminates",
			src:  join(ctrl(ctrlReset1), lit('z'), ctrl(ctrlEndMarker), lit('q')),
			want: "z",
		},
		{
			name: "trailing bytes ignored",
			src:  append(join(ctrl(ctrlReset1), lit('z'), ctrl(ctrlEndOfRecord)), 0xDE, 0xAD, 0xBE, 0xEF),
			want: "z",
		},
		{
			name:    "copy before any data",
			src:     join(ctrl(ctrlReset1), cp(2, 0), ctrl(ctrlEndOfRecord)),
			wantErr: ErrCorrupt,
		},
		{
			name:    "data before reset",
			src:     join(lit('a'), ctrl(ctrlEndOfRecord)),
			wantErr: ErrCorrupt,
		},
		{
			name:    "starts with end of record",
			src:     join(ctrl(ctrlEndOfRecord)),
			wantErr: ErrCorrupt,
		},
		{
			name:    "unknown control symbol",
			src:     join(ctrl(ctrlReset1), lit('a'), ctrl(0x1FF9), ctrl(ctrlEndOfRecord)),
			wantErr: ErrCorrupt,
		},
		{
			name:    "no end of record",
			src:     join(ctrl(ctrlReset1), lit('a'), lit('b')),
			wantErr: ErrCorrupt,
		},
		{
			name:    "empty input",
			src:     nil,
			wantErr: ErrCorrupt,
		},
		{
			name:    "plain UTF-16 body with BOM",
			src:     utf16le("<s:Envelope/>"),
			wantErr: ErrCorrupt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(tt.src, 1<<10)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v (output %q)", err, tt.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("Decompress = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecompressTruncated(t *testing.T) {
	plain := eventXML(3)
	c := Compress(plain)
	// Strip the trailer and padding: the END_OF_RECORD symbol ends within
	// the last two bytes of the remaining stream.
	body := c[:len(c)-4]
	for n := range len(body) - 2 {
		if _, err := Decompress(body[:n], len(plain)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(body), err)
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	zeros := make([]byte, 100000)
	c := Compress(zeros)
	tests := []struct {
		name    string
		maxOut  int
		wantErr error
	}{
		{"exact", len(zeros), nil},
		{"one short", len(zeros) - 1, ErrTooLarge},
		{"tiny", 10, ErrTooLarge},
		{"zero", 0, ErrTooLarge},
		{"negative", -1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(c, tt.maxOut)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, zeros) {
				t.Fatal("output differs")
			}
		})
	}
}

func TestDecompressGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 4096)
	for i := range 2000 {
		n := rng.IntN(len(buf))
		for j := range n {
			buf[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && n >= 2 {
			// Start like a Windows stream so decoding gets past the
			// first symbol.
			buf[0], buf[1] = 0xFF, 0xA8|buf[1]&0x07
		}
		out, err := Decompress(buf[:n], 8192)
		if err == nil && len(out) > 8192 {
			t.Fatalf("output %d bytes beyond limit", len(out))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDecompressLengthTrailer: the length trailer only sizes the first
// allocation. A wrong or missing one decodes the same, and a huge one
// allocates no more than the limit.
func TestDecompressLengthTrailer(t *testing.T) {
	plain := eventXML(20)
	c := Compress(plain)
	body := c[:len(c)-4]
	withTrailer := func(n uint32) []byte {
		return binary.LittleEndian.AppendUint32(bytes.Clone(body), n)
	}
	tests := []struct {
		name   string
		src    []byte
		maxOut int
	}{
		{"true", c, 1 << 20},
		{"true, limit exact", c, len(plain)},
		{"missing", body, 1 << 20},
		{"zero", withTrailer(0), 1 << 20},
		{"too small", withTrailer(uint32(len(plain) / 3)), 1 << 20},
		{"too large", withTrailer(uint32(len(plain) * 4)), 1 << 20},
		{"beyond any expansion", withTrailer(1<<32 - 1), 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(tt.src, tt.maxOut)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("output differs at byte %d", firstDiff(got, plain))
			}
			if limit := min(tt.maxOut, maxExpansion*len(tt.src)+fastRoom); cap(got) > max(limit, 2*len(plain)) {
				t.Fatalf("output capacity %d, want at most %d", cap(got), max(limit, 2*len(plain)))
			}
		})
	}
}

// TestFastLoopEdge decodes the longest copy followed by literals at every
// position around the fast loop's last symbol start, with maxOut just at,
// below and above the output and with a trailer that understates it: the
// fast loop must leave each case to the careful loop, never write past its
// buffer (an earlier version panicked when a 270- or 271-byte copy
// started at the last position it allowed).
func TestFastLoopEdge(t *testing.T) {
	stream := func(prefix, trailer int) []byte {
		w := bitWriter{}
		w.write(ctrlReset1, ctrlBits)
		for i := range prefix {
			writeLiteral(&w, byte(i*7))
		}
		writeCopy(&w, maxMatch, (prefix-1)&historyMask)
		for range 5 {
			writeLiteral(&w, 'a')
		}
		w.write(ctrlEndOfRecord, ctrlBits)
		w.padTo(16)
		return binary.LittleEndian.AppendUint32(w.dst, uint32(trailer))
	}
	for _, maxOut := range []int{4096, 5000} {
		for prefix := maxOut - 300; prefix <= maxOut-260; prefix++ {
			total := prefix + maxMatch + 5
			for _, trailer := range []int{total, prefix} {
				src := stream(prefix, trailer)
				out, err := Decompress(src, maxOut)
				switch {
				case total <= maxOut && (err != nil || len(out) != total):
					t.Fatalf("maxOut %d, prefix %d, trailer %d: %d bytes, %v; want %d bytes", maxOut, prefix, trailer, len(out), err, total)
				case total > maxOut && !errors.Is(err, ErrTooLarge):
					t.Fatalf("maxOut %d, prefix %d, trailer %d: %v, want ErrTooLarge", maxOut, prefix, trailer, err)
				}
				var d Decompressor
				if out, err := d.Decompress(src, 1<<20); err != nil || len(out) != total {
					t.Fatalf("Decompressor, prefix %d, trailer %d: %d bytes, %v; want %d", prefix, trailer, len(out), err, total)
				}
			}
		}
	}
}
