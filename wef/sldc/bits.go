package sldc

import "encoding/binary"

// maxPeekBits is the widest symbol the decoder ever needs to look at: a
// copy pointer with the longest match-count field (1 + 12 + 10 bits).
const maxPeekBits = 23

// bitReader reads an MSB-first bit stream. Reads past the end of src yield
// zero bits; callers detect truncation with overrun after consuming a
// symbol, which keeps the hot path free of bounds branches.
type bitReader struct {
	src []byte
	pos uint64 // next bit to read
	end uint64 // number of bits in src
}

func newBitReader(src []byte) bitReader {
	return bitReader{src: src, end: uint64(len(src)) * 8}
}

// peek returns the next n bits (n <= 25) without consuming them.
func (r *bitReader) peek(n uint) uint32 {
	i := r.pos >> 3
	var v uint32
	if i+4 <= uint64(len(r.src)) {
		v = binary.BigEndian.Uint32(r.src[i:])
	} else {
		for k := uint64(0); k < 4; k++ {
			v <<= 8
			if i+k < uint64(len(r.src)) {
				v |= uint32(r.src[i+k])
			}
		}
	}
	v <<= r.pos & 7
	return v >> (32 - n)
}

func (r *bitReader) skip(n uint) { r.pos += uint64(n) }

// alignTo moves to the next multiple of n bits (n a power of two).
func (r *bitReader) alignTo(n uint64) { r.pos = (r.pos + n - 1) &^ (n - 1) }

// overrun reports whether the symbols consumed so far needed more bits than
// the input holds.
func (r *bitReader) overrun() bool { return r.pos > r.end }

// exhausted reports whether no input bits are left.
func (r *bitReader) exhausted() bool { return r.pos >= r.end }

// bitWriter builds an MSB-first bit stream.
type bitWriter struct {
	dst   []byte
	acc   uint64 // pending bits, right-aligned
	nbits uint   // number of pending bits, always < 8 between calls
}

// write appends the low n bits of v (n <= 32).
func (w *bitWriter) write(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.nbits += n
	for w.nbits >= 8 {
		w.nbits -= 8
		w.dst = append(w.dst, byte(w.acc>>w.nbits))
	}
	w.acc &= 1<<w.nbits - 1
}

// bitLen is the number of bits written so far.
func (w *bitWriter) bitLen() int { return len(w.dst)*8 + int(w.nbits) }

// padTo writes zero bits up to the next multiple of n bits.
func (w *bitWriter) padTo(n int) {
	if rem := w.bitLen() % n; rem != 0 {
		pad := uint(n - rem)
		for pad > 32 {
			w.write(0, 32)
			pad -= 32
		}
		w.write(0, pad)
	}
}
