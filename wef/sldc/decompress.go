package sldc

import (
	"encoding/binary"
	"fmt"
)

const (
	// fastRoom is the free output space the fast loop needs before each
	// symbol: the longest copy plus the up to three literals it decodes
	// after a copy from the same word, rounded up to whole 8-byte words,
	// which is how it copies.
	fastRoom = (maxMatch + 3 + 7) &^ 7

	// maxExpansion bounds the output of one input byte: the longest copy
	// (271 bytes) in the longest copy pointer (23 bits) is 94.3 bytes a
	// byte. A length trailer claiming more is not believed.
	maxExpansion = 95
)

// Decompress decodes an SLDC stream up to its END_OF_RECORD (or END_MARKER)
// control symbol and returns the data. Bytes after that symbol, such as the
// length trailer Windows appends, are ignored.
//
// The stream must begin with a RESET or SCHEME control symbol, which also
// makes a plain (uncompressed) UTF-16 body fail instead of decoding to
// garbage. Decoding more than maxOut bytes fails with ErrTooLarge; any other
// malformation, including a missing END_OF_RECORD, fails with ErrCorrupt.
// Work and memory are bounded by len(src) and maxOut.
func Decompress(src []byte, maxOut int) ([]byte, error) {
	maxOut = max(maxOut, 0)
	return decompress(make([]byte, 0, outputSizeHint(src, maxOut)), src, maxOut)
}

// outputSizeHint is the capacity to start the output with. Windows (and
// Compress) follow the stream with its uncompressed length as a 4-byte
// little-endian integer; when the last four bytes make a plausible length
// that is taken, plus the fast loop's slack, so that the output is
// allocated once. Otherwise, or when it lies, the output starts at the
// typical 3:1 ratio of WEF bodies and grows. Never more than maxOut.
func outputSizeHint(src []byte, maxOut int) int {
	size := 3*len(src) + 16
	if len(src) >= 4 {
		if n := uint64(binary.LittleEndian.Uint32(src[len(src)-4:])); n <= maxExpansion*uint64(len(src)) {
			size = int(n) + fastRoom
		}
	}
	return min(size, maxOut)
}

// decompress appends the decoding of src to out (see Decompress), growing
// it up to maxOut bytes in all.
//
// The bulk of a Windows stream (scheme-1 literals and copy pointers with
// eight input bytes ahead and fastRoom output bytes free) goes through
// decodeScheme1; every other symbol, and any symbol the fast loop declines
// (control symbols, a displacement to report, the last bytes of input or
// of maxOut), is taken one at a time by the careful loop below, which
// checks each limit and names each error.
func decompress(out, src []byte, maxOut int) ([]byte, error) {
	r := newBitReader(src)
	scheme := 0      // 0 until the first RESET or SCHEME symbol
	historyBase := 0 // index in out where the history was last reset

	for {
		if cap(out)-len(out) < fastRoom && cap(out) < maxOut {
			out = grow(out, maxOut)
		}
		if scheme == 1 {
			out, r.pos = decodeScheme1(out, src, r.pos, historyBase, maxOut)
		}
		if r.exhausted() {
			return nil, fmt.Errorf("%w: truncated after %d bytes of output: no END_OF_RECORD", ErrCorrupt, len(out))
		}
		v := r.peek(maxPeekBits)

		if v>>(maxPeekBits-9) == ctrlPrefix {
			code := v >> (maxPeekBits - ctrlBits)
			bitPos := r.pos
			r.skip(ctrlBits)
			if r.overrun() {
				return nil, fmt.Errorf("%w: truncated control symbol at bit %d", ErrCorrupt, bitPos)
			}
			if scheme == 0 && code != ctrlReset1 && code != ctrlReset2 && code != ctrlScheme1 && code != ctrlScheme2 {
				return nil, fmt.Errorf("%w: stream starts with control symbol %#x instead of RESET or SCHEME", ErrCorrupt, code)
			}
			switch code {
			case ctrlReset1:
				scheme, historyBase = 1, len(out)
			case ctrlReset2:
				scheme, historyBase = 2, len(out)
			case ctrlScheme1:
				scheme = 1
			case ctrlScheme2:
				scheme = 2
			case ctrlFlush, ctrlFileMark:
				// Zero pad bits follow up to a 32-bit boundary; the
				// current scheme and history carry on after them.
				r.alignTo(padAlignBits)
			case ctrlEndOfRecord, ctrlEndMarker:
				return out, nil
			default:
				return nil, fmt.Errorf("%w: unknown control symbol %#x at bit %d", ErrCorrupt, code, bitPos)
			}
			continue
		}

		switch scheme {
		case 1:
			if v>>(maxPeekBits-1) == 0 {
				r.skip(9)
				if r.overrun() {
					return nil, fmt.Errorf("%w: truncated literal at bit %d", ErrCorrupt, r.pos-9)
				}
				if len(out) >= maxOut {
					return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxOut)
				}
				out = append(out, byte(v>>(maxPeekBits-9)))
				continue
			}
			count, disp, nbits := decodeCopyPointer(v)
			bitPos := r.pos
			r.skip(nbits)
			if r.overrun() {
				return nil, fmt.Errorf("%w: truncated copy pointer at bit %d", ErrCorrupt, bitPos)
			}
			var err error
			if out, err = copyFromHistory(out, historyBase, disp, count, maxOut); err != nil {
				return nil, fmt.Errorf("copy pointer at bit %d: %w", bitPos, err)
			}
		case 2:
			b := byte(v >> (maxPeekBits - 8))
			n := uint(8)
			if b == 0xFF {
				// The ninth bit is zero, or this would have been a
				// control symbol.
				n = 9
			}
			r.skip(n)
			if r.overrun() {
				return nil, fmt.Errorf("%w: truncated literal at bit %d", ErrCorrupt, r.pos-uint64(n))
			}
			if len(out) >= maxOut {
				return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxOut)
			}
			out = append(out, b)
		default:
			return nil, fmt.Errorf("%w: data before the first RESET or SCHEME symbol", ErrCorrupt)
		}
	}
}

// grow returns out with room for at least fastRoom more bytes, or with
// capacity maxOut when that is less; the careful loop never appends
// beyond maxOut, so this is the only place the output is reallocated.
func grow(out []byte, maxOut int) []byte {
	grown := make([]byte, len(out), min(maxOut, max(2*cap(out), len(out)+fastRoom, 4096)))
	copy(grown, out)
	return grown
}

// decodeScheme1 decodes scheme-1 literals and copy pointers from bit pos of
// src into out for as long as eight input bytes remain from the current one
// (so each symbol lies wholly within src and no read needs a bounds check
// of its own) and out has fastRoom bytes free below both its capacity and
// maxOut (so no symbol can reach either). It stops before a control symbol
// or a copy pointer into history not yet written, which the careful loop
// then takes, and returns out and the bit position reached.
func decodeScheme1(out, src []byte, pos uint64, historyBase, maxOut int) ([]byte, uint64) {
	if len(src) < 8 {
		return out, pos
	}
	buf := out[:min(cap(out), maxOut)]
	n := len(out)
	lastN := len(buf) - fastRoom          // n may not pass this
	lastPos := (uint64(len(src)) - 8) * 8 // nor pos this
	for n <= lastN && pos <= lastPos {
		// At least 57 valid bits: room for six literals or one symbol.
		// (Three-index slices of constant length spare the bounds checks
		// of every later access.)
		i := pos >> 3
		v := binary.BigEndian.Uint64(src[i:i+8:i+8]) << (pos & 7)
		dst := buf[n : n+fastRoom : n+fastRoom]
		if v>>63 == 0 {
			// Literals come in runs; up to six are in v.
			dst[0] = byte(v >> 55)
			k := 1
			for ; k < 6; k++ {
				if v <<= 9; v>>63 != 0 {
					break
				}
				dst[k] = byte(v >> 55)
			}
			n += k
			pos += 9 * uint64(k)
			continue
		}
		if v>>(64-9) == ctrlPrefix {
			break
		}
		count, disp, nbits := decodeCopyPointer(uint32(v >> (64 - maxPeekBits)))
		written := n - historyBase
		dist := (written-disp-1)&historyMask + 1
		if dist > written {
			break
		}
		if dist >= 8 {
			// Whole words, each read from bytes already written (the
			// distance is at least a word); the last may run past count
			// into the free room, which later symbols overwrite. Nine
			// copies in ten are 16 bytes or less: two words, no loop.
			from := buf[n-dist : n-dist+fastRoom : n-dist+fastRoom]
			binary.LittleEndian.PutUint64(dst[0:], binary.LittleEndian.Uint64(from[0:]))
			binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(from[8:]))
			for k := 16; k < count; k += 8 {
				binary.LittleEndian.PutUint64(dst[k:], binary.LittleEndian.Uint64(from[k:]))
			}
		} else {
			// A copy closer than a word may overlap its own output
			// (a run); byte by byte repeats the pattern.
			from := n - dist
			for k := range count {
				buf[n+k] = buf[from+k]
			}
		}
		n += count
		pos += uint64(nbits)
		// The word still holds at least 34 bits: up to three literals
		// that follow the copy need no load of their own.
		v <<= nbits & 31
		for k := 0; k < 3 && v>>63 == 0; k++ {
			buf[n] = byte(v >> 55)
			n++
			pos += 9
			v <<= 9
		}
	}
	return buf[:n], pos
}

// decodeCopyPointer splits a scheme-1 copy pointer, given as the next
// maxPeekBits bits of the stream with its leading one-bit, into the match
// count, the history displacement and the symbol's length in bits. The
// caller has already ruled out a control symbol, so the 8-bit form of the
// match-count field never exceeds 239 and the count stays within 271.
func decodeCopyPointer(v uint32) (count, disp int, nbits uint) {
	w := v << (32 - maxPeekBits + 1) // match-count field at the top
	f := matchCountFields[w>>24]
	count, fieldBits := int(f>>4), uint(f&15)
	if fieldBits == 12 { // 1111xxxxxxxx: 32..271
		count = 32 + int(w>>20&0xFF)
	}
	disp = int(w << (fieldBits & 15) >> (32 - displacementBits))
	return count, disp, 1 + fieldBits + displacementBits
}

// matchCountFields decodes an ECMA-321 match-count field by its first
// eight bits, which hold the whole field in all but the longest form:
// count<<4 | field length in bits, or 12 alone for 1111xxxxxxxx, whose
// count (32..271) needs four more bits.
var matchCountFields = func() (t [256]uint16) {
	for b := range t {
		switch {
		case b>>7 == 0: // 0x: 2..3
			t[b] = uint16(2+b>>6&1)<<4 | 2
		case b>>6 == 0b10: // 10xx: 4..7
			t[b] = uint16(4+b>>4&0x3)<<4 | 4
		case b>>5 == 0b110: // 110xxx: 8..15
			t[b] = uint16(8+b>>2&0x7)<<4 | 6
		case b>>4 == 0b1110: // 1110xxxx: 16..31
			t[b] = uint16(16+b&0xF)<<4 | 8
		default:
			t[b] = 12
		}
	}
	return t
}()

// copyFromHistory appends count bytes read from history slot disp onwards.
//
// The history is the circular buffer of the last 1024 bytes decoded since
// the last reset, filled at slot (n mod 1024) for the n-th byte. Because the
// copy reads and writes one byte at a time, source and destination advance
// together, so the whole copy is an LZ77 copy at one constant distance back
// in out (1 to 1024, where 1024 means the slot about to be overwritten).
func copyFromHistory(out []byte, historyBase, disp, count, maxOut int) ([]byte, error) {
	written := len(out) - historyBase
	dist := (written-disp-1)&historyMask + 1
	if dist > written {
		return nil, fmt.Errorf("%w: displacement %d refers to history not yet written (%d bytes since reset)", ErrCorrupt, disp, written)
	}
	if count > maxOut-len(out) {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxOut)
	}
	start := len(out) - dist
	if dist >= count {
		return append(out, out[start:start+count]...), nil
	}
	for k := range count {
		out = append(out, out[start+k])
	}
	return out, nil
}
