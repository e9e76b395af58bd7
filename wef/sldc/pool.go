package sldc

import "sync"

// maxPooled is the largest output buffer a Decompressor keeps: a default
// MaxEnvelopeSize of 512 KiB decodes to about 1 MiB of UTF-16, and a
// buffer much larger than that was for a rare body.
const maxPooled = 4 << 20

// Decompressor is Decompress with its output buffers kept for reuse. A
// gateway decodes one body a request, each about the size of the ones
// before, and leaving every output to the garbage collector (zeroed when
// allocated, scanned for when freed) costs a good part of the decoding.
// The zero value is ready to use; it is safe for concurrent use.
type Decompressor struct {
	buffers sync.Pool // of *[]byte with capacity at most maxPooled
}

// Decompress is the package's Decompress (same output, errors and
// limits), decoding into a recycled buffer when one is large enough for
// the length trailer's claim. The result may be given back with Release
// once nothing refers to it; a result never released is simply collected.
func (d *Decompressor) Decompress(src []byte, maxOut int) ([]byte, error) {
	maxOut = max(maxOut, 0)
	want := outputSizeHint(src, maxOut)
	var buf []byte
	if p, ok := d.buffers.Get().(*[]byte); ok && cap(*p) >= want {
		// Whole: the decoder stops at maxOut whatever the capacity, and a
		// buffer cut to this body's limit would come back too small for
		// the next, larger one.
		buf = (*p)[:0]
	} else {
		// Too small for this body: dropped, and the larger one made
		// now takes its place on Release.
		buf = make([]byte, 0, want)
	}
	out, err := decompress(buf, src, maxOut)
	if err != nil {
		d.Release(buf)
		return nil, err
	}
	return out, nil
}

// Release gives back a buffer that Decompress returned. The caller must
// not use b, or anything sliced from it, afterwards.
func (d *Decompressor) Release(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooled {
		return
	}
	b = b[:0]
	d.buffers.Put(&b)
}
