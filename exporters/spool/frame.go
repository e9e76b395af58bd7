package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Record frame on disk:
//
//	magic(1) codec(1) length(4, LE) crc32c(4, LE) body(length)
//
// The CRC covers magic, codec, length and body, so a header whose length was
// torn or zeroed does not validate. The magic byte keeps a zero-filled tail
// (what some filesystems leave after a crash that extended the file) from
// reading as a run of valid empty records, whose CRC would otherwise be 0.
const (
	frameMagic  byte = 0xA7
	headerSize       = 10
	crcOffset        = 6
	codecNone   byte = 0
	codecZstd   byte = 1
	codecS2     byte = 2
	maxBodySize      = 64 << 20
)

// MaxPayload is the largest payload Append accepts. WS-Management envelopes
// are bounded well below this (MaxEnvelopeSize defaults to 512000 bytes).
const MaxPayload = maxBodySize

// castagnoli is a read-only lookup table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame marks a frame that fails validation: wrong magic, unknown
// codec, absurd length or CRC mismatch.
var errBadFrame = errors.New("invalid record frame")

// errBadCRC marks a frame whose header is sound but whose CRC does not
// match. It wraps errBadFrame. The length is then probably right, so the
// reader steps over the frame; whether it really was right shows in the
// next frame.
var errBadCRC = fmt.Errorf("%w: crc mismatch", errBadFrame)

// codec compresses payloads for storage. Decoding supports every codec
// whatever the configured one, so a spool written with one setting opens
// with another.
type codec struct {
	id  byte
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newCodec(name string) (*codec, error) {
	c := &codec{}
	switch name {
	case "", "zstd":
		c.id = codecZstd
	case "s2":
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
	buf := make([]byte, headerSize, headerSize+len(payload)/2+64)
	id := c.id
	switch id {
	case codecZstd:
		buf = c.enc.EncodeAll(payload, buf)
	case codecS2:
		n := s2.MaxEncodedLen(len(payload))
		if n < 0 {
			id = codecNone
			break
		}
		if cap(buf) < headerSize+n {
			buf = append(make([]byte, 0, headerSize+n), buf...)
		}
		enc := s2.Encode(buf[headerSize:headerSize+n], payload)
		buf = buf[:headerSize+len(enc)]
	}
	if id == codecNone || len(buf)-headerSize >= len(payload) {
		id = codecNone
		buf = append(buf[:headerSize], payload...)
	}
	buf[0] = frameMagic
	buf[1] = id
	binary.LittleEndian.PutUint32(buf[2:6], uint32(len(buf)-headerSize))
	crc := crc32.Update(0, castagnoli, buf[:crcOffset])
	crc = crc32.Update(crc, castagnoli, buf[headerSize:])
	binary.LittleEndian.PutUint32(buf[crcOffset:headerSize], crc)
	return buf
}

// parseHeader validates the fixed part of a frame and returns the body length.
func parseHeader(h []byte) (int, error) {
	if h[0] != frameMagic {
		return 0, fmt.Errorf("%w: magic %#x", errBadFrame, h[0])
	}
	if h[1] > codecS2 {
		return 0, fmt.Errorf("%w: codec %d", errBadFrame, h[1])
	}
	n := binary.LittleEndian.Uint32(h[2:6])
	if n > maxBodySize+1024 {
		return 0, fmt.Errorf("%w: length %d", errBadFrame, n)
	}
	return int(n), nil
}

// checkFrame verifies the CRC of a header and its body.
func checkFrame(h, body []byte) error {
	crc := crc32.Update(0, castagnoli, h[:crcOffset])
	crc = crc32.Update(crc, castagnoli, body)
	if want := binary.LittleEndian.Uint32(h[crcOffset:headerSize]); crc != want {
		return fmt.Errorf("%w: %#08x, want %#08x", errBadCRC, crc, want)
	}
	return nil
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

// frameReader walks the frames of one segment through a buffered reader,
// keeping track of the byte offset of the next frame.
type frameReader struct {
	r   io.Reader
	off int64
	end int64 // offset where the readable data ends
	hdr [headerSize]byte
	buf []byte
}

// next reads and verifies one frame. It returns io.EOF at a clean end,
// io.ErrUnexpectedEOF for a frame cut short, or an error wrapping
// errBadFrame; after errBadCRC the reader stands after the damaged frame.
// body is only valid until the next call.
func (fr *frameReader) next() (codecID byte, body []byte, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	n, err := parseHeader(fr.hdr[:])
	if err != nil {
		return 0, nil, err
	}
	// A torn length must not size an allocation beyond the data there is.
	if fr.off+headerSize+int64(n) > fr.end {
		return 0, nil, io.ErrUnexpectedEOF
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	fr.off += int64(headerSize + n)
	if err := checkFrame(fr.hdr[:], fr.buf); err != nil {
		return 0, nil, err
	}
	return fr.hdr[1], fr.buf, nil
}
