package sldc

import "encoding/binary"

const (
	// maxDistance keeps every copy strictly inside the history: distance
	// 1024 would name the slot being overwritten, which decoders resolve
	// differently (read-before-write or not).
	maxDistance = historySize - 1

	hashBits  = 12
	hashSize  = 1 << hashBits
	hashShift = 32 - hashBits

	// maxChain bounds the candidates examined per position, so compression
	// time stays linear in the input whatever its content.
	maxChain = 48
	// niceMatch is long enough that looking one byte further for a better
	// match is not worth the time.
	niceMatch = 64

	literalBits = 9
)

// Compress encodes src the way Windows Event Forwarding clients do: RESET_1,
// scheme-1 literals and copy pointers into the 1 KiB history, END_OF_RECORD,
// zero padding to a 16-bit boundary, then len(src) as a 4-byte little-endian
// integer.
//
// Copies never overlap the bytes they produce (match count <= distance) and
// never reach back a full 1024 bytes. Neither case occurs in the captured
// Windows stream and decoders differ on them, so staying clear keeps the
// output acceptable to any decoder. Two-byte copies, which the match-count
// field allows, are used because they save 5 bits over two literals.
func Compress(src []byte) []byte {
	w := bitWriter{dst: make([]byte, 0, len(src)/2+16)}
	w.write(ctrlReset1, ctrlBits)
	compressData(&w, src)
	w.write(ctrlEndOfRecord, ctrlBits)
	w.padTo(16)
	return binary.LittleEndian.AppendUint32(w.dst, uint32(len(src)))
}

// Segment compresses src as one part of a stream that is joined by
// appending parts: RESET_1, scheme-1 literals and copy pointers, then FLUSH
// and zero bits up to a 32-bit boundary (ECMA-321 control symbols). Each
// segment is a whole number of 32-bit words, so the next one starts on the
// boundary where a decoder resumes after FLUSH, and its RESET_1 empties the
// history: a segment refers to nothing before it, so one compressed once
// can follow different others. End closes the joined stream.
//
// Windows sends one RESET_1 per body; the load driver uses segments to
// send each host's own envelope header before event bodies compressed once
// for the whole fleet.
func Segment(src []byte) []byte {
	w := bitWriter{dst: make([]byte, 0, len(src)/2+16)}
	w.write(ctrlReset1, ctrlBits)
	compressData(&w, src)
	w.write(ctrlFlush, ctrlBits)
	w.padTo(padAlignBits)
	return w.dst
}

// End appends to a stream of segments (see Segment) END_OF_RECORD, zero
// bits to a 16-bit boundary, and n, the stream's uncompressed length, as a
// 4-byte little-endian integer: the shape Compress ends with.
func End(dst []byte, n int) []byte {
	w := bitWriter{dst: dst}
	w.write(ctrlEndOfRecord, ctrlBits)
	w.padTo(16)
	return binary.LittleEndian.AppendUint32(w.dst, uint32(n))
}

// compressData writes src as scheme-1 literals and copy pointers.
func compressData(w *bitWriter, src []byte) {
	m := newMatcher(src)
	for p := 0; p < len(src); {
		length, dist := m.find(p)
		m.insert(p)
		// One-step lazy matching: a literal now can buy a better copy at
		// the next position.
		for length >= minMatch && length < niceMatch && p+1 < len(src) {
			nextLength, nextDist := m.find(p + 1)
			if savedBits(nextLength) <= savedBits(length) {
				break
			}
			writeLiteral(w, src[p])
			p++
			m.insert(p)
			length, dist = nextLength, nextDist
		}
		if length < minMatch {
			writeLiteral(w, src[p])
			p++
			continue
		}
		writeCopy(w, length, (p-dist)&historyMask)
		for end := p + length; p+1 < end; {
			p++
			m.insert(p)
		}
		p++
	}
}

func writeLiteral(w *bitWriter, b byte) {
	w.write(uint32(b), literalBits) // leading zero bit marks a literal
}

// writeCopy emits a scheme-1 copy pointer; disp is the absolute history slot
// of the first byte to copy.
func writeCopy(w *bitWriter, count, disp int) {
	field, fieldBits := matchCountField(count)
	w.write(1, 1)
	w.write(field, fieldBits)
	w.write(uint32(disp), displacementBits)
}

// matchCountField returns the ECMA-321 match-count field for count (2..271).
func matchCountField(count int) (field uint32, bits uint) {
	c := uint32(count)
	switch {
	case count < 4:
		return c - 2, 2 // 0x
	case count < 8:
		return 0b10<<2 | (c - 4), 4
	case count < 16:
		return 0b110<<3 | (c - 8), 6
	case count < 32:
		return 0b1110<<4 | (c - 16), 8
	default:
		return 0b1111<<8 | (c - 32), 12
	}
}

// savedBits is how many bits a copy of length bytes saves over literals.
func savedBits(length int) int {
	if length < minMatch {
		return 0
	}
	_, fieldBits := matchCountField(length)
	return length*literalBits - (1 + int(fieldBits) + displacementBits)
}

// matcher finds earlier occurrences of the bytes at a position within the
// history window using hash chains over 3-byte prefixes, plus a table of the
// latest occurrence of each 2-byte prefix for the shortest copies.
type matcher struct {
	src   []byte
	head  [hashSize]int32    // latest position+1 per 3-byte hash, 0 if none
	prev  [historySize]int32 // previous position+1 with the same hash, by position mod 1024
	head2 [hashSize]int32    // latest position+1 per 2-byte hash
}

func newMatcher(src []byte) *matcher { return &matcher{src: src} }

func hash3(b []byte) uint32 {
	return (uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])) * 2654435761 >> hashShift
}

func hash2(b []byte) uint32 {
	return (uint32(b[0])<<8 | uint32(b[1])) * 2654435761 >> hashShift
}

// insert records position p; positions must be inserted in increasing order.
func (m *matcher) insert(p int) {
	if p+3 <= len(m.src) {
		h := hash3(m.src[p:])
		m.prev[p&historyMask] = m.head[h]
		m.head[h] = int32(p + 1)
	}
	if p+2 <= len(m.src) {
		m.head2[hash2(m.src[p:])] = int32(p + 1)
	}
}

// find returns the longest usable match for position p (not yet inserted)
// and its distance, or a length below minMatch if there is none.
func (m *matcher) find(p int) (length, dist int) {
	src := m.src
	remaining := min(len(src)-p, maxMatch)
	if remaining < minMatch {
		return 0, 0
	}
	if remaining >= 3 {
		cand := m.head[hash3(src[p:])]
		for chain := 0; cand > 0 && chain < maxChain; chain++ {
			c := int(cand) - 1
			d := p - c
			if d > maxDistance {
				break
			}
			limit := min(remaining, d)
			if limit > length && src[c+length] == src[p+length] {
				n := matchLen(src[c:c+limit], src[p:p+limit])
				if n > length {
					length, dist = n, d
					if n == remaining {
						break
					}
				}
			}
			cand = m.prev[c&historyMask]
		}
	}
	if length >= minMatch && length == dist && length < remaining {
		// The copy was cut short so as not to overlap its own output,
		// which means the data repeats with period dist (a run). An
		// occurrence whole periods further back can be copied in one go.
		if k := min(maxDistance, p) / dist; k > 1 {
			far := k * dist
			if n := matchLen(src[p-far:p-far+min(remaining, far)], src[p:p+min(remaining, far)]); n > length {
				length, dist = n, far
			}
		}
	}
	if length >= 3 {
		return length, dist
	}
	if cand := m.head2[hash2(src[p:])]; cand > 0 {
		c := int(cand) - 1
		if d := p - c; d >= 2 && d <= maxDistance && src[c] == src[p] && src[c+1] == src[p+1] {
			return 2, d
		}
	}
	return 0, 0
}

func matchLen(a, b []byte) int {
	n := 0
	for n < len(a) && a[n] == b[n] {
		n++
	}
	return n
}
