package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Record frame on disk (integers little-endian):
//
//	magic(1) codec(1) length(4) seq(8) bodyCRC(4) headerCRC(4) body(length)
//
// Both CRCs are CRC-32C. The header carries its own CRC and the entry's
// sequence number, so that after damage a reader can find the next sound
// frame by scanning for one whose header verifies, and knows exactly which
// entries were lost in between. The magic byte keeps a zero-filled tail
// (what some filesystems leave after a crash that extended the file) from
// reading as valid frames.
const (
	frameMagic      byte = 0xA7
	headerSize           = 22
	seqOffset            = 6
	bodyCRCOffset        = 14
	headerCRCOffset      = 18
	codecNone       byte = 0
	codecZstd       byte = 1
	codecS2         byte = 2
	maxBodySize          = 64 << 20
)

// MaxPayload is the largest payload Append accepts. WS-Management envelopes
// are bounded well below this (MaxEnvelopeSize defaults to 512000 bytes).
const MaxPayload = maxBodySize

// castagnoli is a read-only lookup table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame marks a frame header that fails validation: wrong magic,
// unknown codec, absurd length or header CRC mismatch. Its length cannot be
// trusted; the reader must resync.
var errBadFrame = errors.New("invalid record frame")

// errBadBody marks a frame whose header verified but whose body does not
// match its CRC. The reader has stepped over exactly that frame.
var errBadBody = errors.New("record body fails its checksum")

// codec compresses payloads for storage. Decoding supports every codec
// whatever the configured one, so a spool written with one setting opens
// with another.
type codec struct {
	id  byte
	enc *zstd.Encoder
	dec *zstd.Decoder
	// frames holds frame buffers (*[]byte) the writer has copied out, for
	// the next appends: a frame lives only from Append to its group's
	// write.
	frames sync.Pool
}

// maxPooledFrame is the largest frame buffer kept for reuse.
const maxPooledFrame = 4 << 20

// recycle takes back a frame made by frame once it has been copied.
func (c *codec) recycle(frame []byte) {
	if cap(frame) <= maxPooledFrame {
		frame = frame[:0]
		c.frames.Put(&frame)
	}
}

func newCodec(name string) (*codec, error) {
	c := &codec{}
	switch name {
	case "zstd":
		c.id = codecZstd
	case "", "s2":
		// s2 is the default: it costs a third of zstd's CPU per append
		// for about 1.6 times the bytes (README, "Spool compression").
		c.id = codecS2
	case "none":
		c.id = codecNone
	default:
		return nil, fmt.Errorf("unknown compression %q (want zstd, s2 or none)", name)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBodySize), zstd.WithDecoderConcurrency(0))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	c.enc, c.dec = enc, dec
	return c, nil
}

func (c *codec) close() {
	c.enc.Close()
	c.dec.Close()
}

// frame returns the complete on-disk frame for payload. Compression that
// does not pay is dropped so incompressible payloads cost no extra CPU on read.
func (c *codec) frame(payload []byte) []byte {
	id := c.id
	// One allocation: room for the payload as it is (none), for the most
	// s2 may make of it, or a guess zstd grows if it must.
	room := len(payload)/2 + 64
	s2Max := s2.MaxEncodedLen(len(payload))
	switch {
	case id == codecNone, id == codecS2 && s2Max < 0:
		room = len(payload)
	case id == codecS2:
		room = s2Max
	}
	var buf []byte
	if p, ok := c.frames.Get().(*[]byte); ok && cap(*p) >= headerSize+room {
		buf = (*p)[:headerSize]
	} else {
		buf = make([]byte, headerSize, headerSize+room)
	}
	switch id {
	case codecZstd:
		buf = c.enc.EncodeAll(payload, buf)
	case codecS2:
		if s2Max < 0 {
			id = codecNone
			break
		}
		enc := s2.Encode(buf[headerSize:headerSize+s2Max], payload)
		buf = buf[:headerSize+len(enc)]
	}
	if id == codecNone || len(buf)-headerSize >= len(payload) {
		id = codecNone
		buf = append(buf[:headerSize], payload...)
	}
	buf[0] = frameMagic
	buf[1] = id
	binary.LittleEndian.PutUint32(buf[2:6], uint32(len(buf)-headerSize))
	binary.LittleEndian.PutUint32(buf[bodyCRCOffset:], crc32.Checksum(buf[headerSize:], castagnoli))
	return buf
}

// sealFrame stamps the sequence number the writer assigned and the header
// CRC into a frame made by codec.frame.
func sealFrame(frame []byte, seq uint64) {
	binary.LittleEndian.PutUint64(frame[seqOffset:], seq)
	binary.LittleEndian.PutUint32(frame[headerCRCOffset:], crc32.Checksum(frame[:headerCRCOffset], castagnoli))
}

// parseHeader validates a frame header and returns the body length and
// the sequence number.
func parseHeader(h []byte) (n int, seq uint64, err error) {
	if h[0] != frameMagic {
		return 0, 0, fmt.Errorf("%w: magic %#x", errBadFrame, h[0])
	}
	if crc, want := crc32.Checksum(h[:headerCRCOffset], castagnoli), binary.LittleEndian.Uint32(h[headerCRCOffset:]); crc != want {
		return 0, 0, fmt.Errorf("%w: header crc %#08x, want %#08x", errBadFrame, crc, want)
	}
	if h[1] > codecS2 {
		return 0, 0, fmt.Errorf("%w: codec %d", errBadFrame, h[1])
	}
	n64 := binary.LittleEndian.Uint32(h[2:6])
	if n64 > maxBodySize+1024 {
		return 0, 0, fmt.Errorf("%w: length %d", errBadFrame, n64)
	}
	return int(n64), binary.LittleEndian.Uint64(h[seqOffset:]), nil
}

// decode returns the payload of a verified frame.
func (c *codec) decode(id byte, body []byte) ([]byte, error) {
	switch id {
	case codecNone:
		return append([]byte(nil), body...), nil
	case codecZstd:
		out, err := c.dec.DecodeAll(body, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	case codecS2:
		out, err := s2.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: codec %d", errBadFrame, id)
}

// frameReader walks the frames of one segment, keeping track of the byte
// offset of the next frame.
type frameReader struct {
	r   *bufio.Reader
	off int64
	end int64 // offset where the readable data ends
	buf []byte
}

// next reads and verifies one frame. It returns io.EOF at a clean end,
// io.ErrUnexpectedEOF for a frame cut short, errBadFrame for a header that
// does not verify (nothing consumed: call resync), or errBadBody with the
// sequence number of a frame that has been stepped over. body is only
// valid until the next call.
func (fr *frameReader) next() (seq uint64, codecID byte, body []byte, err error) {
	h, err := fr.r.Peek(headerSize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	n, seq, err := parseHeader(h)
	if err != nil {
		return 0, 0, nil, err
	}
	// A header cut short by the end of the data must not size an
	// allocation beyond the data there is.
	if fr.off+headerSize+int64(n) > fr.end {
		return 0, 0, nil, io.ErrUnexpectedEOF
	}
	codecID = h[1]
	want := binary.LittleEndian.Uint32(h[bodyCRCOffset:])
	if _, err := fr.r.Discard(headerSize); err != nil {
		return 0, 0, nil, err
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	fr.off += int64(headerSize + n)
	if crc := crc32.Checksum(fr.buf, castagnoli); crc != want {
		return seq, codecID, nil, fmt.Errorf("%w: entry %d crc %#08x, want %#08x", errBadBody, seq, crc, want)
	}
	return seq, codecID, fr.buf, nil
}

// resync skips forward from a header that did not verify to the next
// offset holding one that does. It reports whether one was found.
func (fr *frameReader) resync() bool {
	fr.discard(1)
	for {
		avail := min(int64(fr.r.Size()), fr.end-fr.off)
		if avail < headerSize {
			return false
		}
		buf, _ := fr.r.Peek(int(avail))
		if len(buf) < headerSize {
			return false
		}
		last := len(buf) - headerSize // last index a whole header fits at
		i := bytes.IndexByte(buf[:last+1], frameMagic)
		if i < 0 {
			fr.discard(last + 1)
			continue
		}
		if _, _, err := parseHeader(buf[i : i+headerSize]); err == nil {
			fr.discard(i)
			return true
		}
		fr.discard(i + 1)
	}
}

func (fr *frameReader) discard(n int) {
	d, _ := fr.r.Discard(n)
	fr.off += int64(d)
}
