package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"wefgate/spool"
)

// SpoolSink is the Sink that makes deliveries durable in the local spool;
// a Shipper takes them from there to the exporters.
type SpoolSink struct {
	spool *spool.Spool
	// bufs holds encoding buffers (*[]byte): the spool keeps no reference
	// to a payload once Append returns, so each is reused.
	bufs sync.Pool
}

// maxPooledPayload is the largest encoding buffer kept for reuse.
const maxPooledPayload = 4 << 20

// NewSpoolSink returns a Sink appending to sp.
func NewSpoolSink(sp *spool.Spool) *SpoolSink {
	return &SpoolSink{spool: sp}
}

// Accept appends d to the spool and returns once it is on disk. A full
// spool yields an error wrapping both ErrBackpressure and spool.ErrFull; a
// spool whose writes fail (disk full, I/O error) one wrapping both
// ErrBackpressure and spool.ErrUnavailable: either clears by itself.
// A delivery without events has nothing to keep and is accepted as is.
func (s *SpoolSink) Accept(ctx context.Context, d *Delivery) error {
	if len(d.Events) == 0 {
		return nil
	}
	var buf []byte
	if p, ok := s.bufs.Get().(*[]byte); ok {
		buf = *p
	}
	buf = AppendDelivery(slices.Grow(buf[:0], EncodedSize(d)), d)
	_, err := s.spool.Append(ctx, buf)
	if cap(buf) <= maxPooledPayload {
		buf = buf[:0]
		s.bufs.Put(&buf)
	}
	if errors.Is(err, spool.ErrFull) {
		st := s.spool.Stats()
		return fmt.Errorf("%w: spool holds %d of %d bytes, %d entries not yet exported: %w",
			ErrBackpressure, st.BytesOnDisk, st.MaxBytes, st.PendingEntries, err)
	}
	if errors.Is(err, spool.ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrBackpressure, err)
	}
	if err != nil {
		return fmt.Errorf("pipeline: spool %d events from %s: %w", len(d.Events), d.Source.Identity, err)
	}
	return nil
}
