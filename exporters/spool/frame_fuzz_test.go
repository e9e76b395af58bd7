package spool

import (
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
		seg := append(c.frame(payloadFor(1)), c.frame(payloadFor(2))...)
		f.Add(seg)
		f.Add(seg[:len(seg)-7])
		c.close()
	}
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add([]byte{frameMagic, codecZstd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	c, err := newCodec("none")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.close)
	f.Fuzz(func(t *testing.T, seg []byte) {
		fr := frameReader{r: bytes.NewReader(seg), end: int64(len(seg))}
		for {
			id, body, err := fr.next()
			if errors.Is(err, errBadCRC) {
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errBadFrame) {
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
