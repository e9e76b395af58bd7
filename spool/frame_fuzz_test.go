package spool

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzFrames feeds arbitrary bytes to the frame reader and decoder as
// recovery and Read do with a damaged segment: no panic, no huge
// allocation, and every frame that verifies decodes or fails cleanly.
func FuzzFrames(f *testing.F) {
	for _, name := range []string{"none", "zstd", "s2"} {
		c, err := newCodec(name)
		if err != nil {
			f.Fatal(err)
		}
		f1, f2 := c.frame(payloadFor(1)), c.frame(payloadFor(2))
		sealFrame(f1, 1)
		sealFrame(f2, 2)
		seg := append(f1, f2...)
		f.Add(seg)
		f.Add(seg[:len(seg)-7])
		c.close()
	}
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	huge := make([]byte, headerSize)
	huge[0], huge[1] = frameMagic, codecZstd
	copy(huge[2:], []byte{0xff, 0xff, 0xff, 0x03})
	sealFrame(huge, 7)
	f.Add(huge)
	c, err := newCodec("none")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.close)
	f.Fuzz(func(t *testing.T, seg []byte) {
		fr := frameReader{r: bufio.NewReaderSize(bytes.NewReader(seg), 4096), end: int64(len(seg))}
		for {
			_, id, body, err := fr.next()
			if errors.Is(err, errBadBody) {
				continue
			}
			if errors.Is(err, errBadFrame) {
				if fr.resync() {
					continue
				}
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if fr.off > int64(len(seg)) {
				t.Fatalf("offset %d beyond %d input bytes", fr.off, len(seg))
			}
			_, _ = c.decode(id, body)
		}
	})
}
