package pipeline

import (
	"context"
	"errors"
	"fmt"

	"wefgate/spool"
)

// SpoolSink is the Sink that makes deliveries durable in the local spool;
// a Shipper takes them from there to the exporters.
type SpoolSink struct {
	spool *spool.Spool
}

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
	_, err := s.spool.Append(ctx, EncodeDelivery(d))
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
