package sldc

// The decoder as it was before the fast path (one symbol at a time,
// appending to the output, the match count decoded by branches), kept as
// the oracle the differential fuzz targets compare Decompress with: same
// output, same error text, on any input. It reads bits with the same
// bitReader, which the careful loop still uses unchanged.

import "fmt"

// refDecompress decodes an SLDC stream up to its END_OF_RECORD (or END_MARKER)
// control symbol and returns the data. Bytes after that symbol, such as the
// length trailer Windows appends, are ignored.
//
// The stream must begin with a RESET or SCHEME control symbol, which also
// makes a plain (uncompressed) UTF-16 body fail instead of decoding to
// garbage. Decoding more than maxOut bytes fails with ErrTooLarge; any other
// malformation, including a missing END_OF_RECORD, fails with ErrCorrupt.
// Work and memory are bounded by len(src) and maxOut.
func refDecompress(src []byte, maxOut int) ([]byte, error) {
	maxOut = max(maxOut, 0)
	// Typical WEF bodies compress about 3:1; start there and let append
	// grow, never past maxOut.
	out := make([]byte, 0, min(maxOut, 3*len(src)+16))

	r := newBitReader(src)
	scheme := 0      // 0 until the first RESET or SCHEME symbol
	historyBase := 0 // index in out where the history was last reset

	for {
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
			count, disp, nbits := refDecodeCopyPointer(v)
			bitPos := r.pos
			r.skip(nbits)
			if r.overrun() {
				return nil, fmt.Errorf("%w: truncated copy pointer at bit %d", ErrCorrupt, bitPos)
			}
			var err error
			if out, err = refCopyFromHistory(out, historyBase, disp, count, maxOut); err != nil {
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

// refDecodeCopyPointer splits a scheme-1 copy pointer, given as the next
// maxPeekBits bits of the stream with its leading one-bit, into the match
// count, the history displacement and the symbol's length in bits. The
// caller has already ruled out a control symbol, so the 8-bit form of the
// match-count field never exceeds 239 and the count stays within 271.
func refDecodeCopyPointer(v uint32) (count, disp int, nbits uint) {
	w := v << (32 - maxPeekBits + 1) // match-count field at the top
	var fieldBits uint
	switch {
	case w>>31 == 0: // 0x: 2..3
		count, fieldBits = 2+int(w>>30&1), 2
	case w>>30 == 0b10: // 10xx: 4..7
		count, fieldBits = 4+int(w>>28&0x3), 4
	case w>>29 == 0b110: // 110xxx: 8..15
		count, fieldBits = 8+int(w>>26&0x7), 6
	case w>>28 == 0b1110: // 1110xxxx: 16..31
		count, fieldBits = 16+int(w>>24&0xF), 8
	default: // 1111xxxxxxxx: 32..271
		count, fieldBits = 32+int(w>>20&0xFF), 12
	}
	disp = int(w << fieldBits >> (32 - displacementBits))
	return count, disp, 1 + fieldBits + displacementBits
}

// refCopyFromHistory appends count bytes read from history slot disp onwards.
//
// The history is the circular buffer of the last 1024 bytes decoded since
// the last reset, filled at slot (n mod 1024) for the n-th byte. Because the
// copy reads and writes one byte at a time, source and destination advance
// together, so the whole copy is an LZ77 copy at one constant distance back
// in out (1 to 1024, where 1024 means the slot about to be overwritten).
func refCopyFromHistory(out []byte, historyBase, disp, count, maxOut int) ([]byte, error) {
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
