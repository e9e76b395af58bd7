package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"wefgate/record"
	"wefgate/spool"
	"wefgate/wef/event"
)

// ShipperOptions tune a Shipper. Zero fields take the defaults noted.
type ShipperOptions struct {
	// MaxBatchRecords caps the records in one Export call (default 1000).
	MaxBatchRecords int
	// ReadEntries caps the spool entries (deliveries) taken per read
	// (default 64).
	ReadEntries int
	// TickInterval is how often the Stage is ticked so that held events
	// are released when nothing new arrives (default 1 s).
	TickInterval time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// attempts at a failing exporter (defaults 100 ms and 30 s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// FinalTimeout bounds the last export attempt on shutdown (default 5 s).
	FinalTimeout time.Duration
	// CommitInterval is the least time between two spool commits while
	// the shipper is behind (default 100 ms); once caught up it commits at
	// once. Each commit costs two fsyncs; a longer interval only means more
	// duplicates after a crash.
	CommitInterval time.Duration
	// Parse re-parses spooled event XML (default event.Parse).
	Parse ParseFunc
}

func (o *ShipperOptions) setDefaults() {
	if o.MaxBatchRecords <= 0 {
		o.MaxBatchRecords = 1000
	}
	if o.ReadEntries <= 0 {
		o.ReadEntries = 64
	}
	if o.TickInterval <= 0 {
		o.TickInterval = time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.FinalTimeout <= 0 {
		o.FinalTimeout = 5 * time.Second
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 100 * time.Millisecond
	}
	if o.Parse == nil {
		o.Parse = event.Parse
	}
}

// ShipperStats is a snapshot of a Shipper's counters.
type ShipperStats struct {
	// ExportedRecords counts records confirmed by every exporter.
	ExportedRecords uint64
	// Retries counts failed export attempts that were retried.
	Retries uint64
	// UndecodableEntries counts spool entries skipped as undecodable.
	UndecodableEntries uint64
	// FailingExporters is how many exporters are in an outage now.
	FailingExporters int
	// Committed is the spool position confirmed downstream; PendingEntries
	// the spool entries after it.
	Committed      Position
	PendingEntries uint64
	// Lag is how long ago the oldest delivery not yet committed was
	// received (zero when the shipper has caught up).
	Lag time.Duration
}

// Shipper drains the spool in order through a Stage to every exporter and
// commits the spool only up to what all exporters confirmed and the stage
// no longer holds. Delivery is at least once: after a crash or an
// incomplete shutdown, entries after the committed position are shipped
// again.
type Shipper struct {
	spool  *spool.Spool
	stage  Stage
	mapFn  MapFunc
	outs   []*exporterState
	opts   ShipperOptions
	logger *slog.Logger

	running atomic.Bool

	// Run-loop state.
	after      Position // last spool entry taken
	committed  Position
	ready      []Staged
	inflight   []inflightEntry // taken, not yet committed, in order
	lastTick   time.Time
	lastCommit time.Time

	exported    atomic.Uint64
	retries     atomic.Uint64
	undecodable atomic.Uint64
	failing     atomic.Int64
	oldestNanos atomic.Int64 // Received of inflight[0], Unix ns; 0 if none
}

type inflightEntry struct {
	pos      Position
	received time.Time
}

// exporterState is touched only by the goroutine exporting to it, one
// export at a time.
type exporterState struct {
	exp          Exporter
	failingSince time.Time
	failures     int
	lastErr      error
}

// NewShipper returns a Shipper reading sp. A nil stage means PassThrough;
// a nil logger discards logs.
func NewShipper(sp *spool.Spool, stage Stage, mapFn MapFunc, outs []Exporter, opts ShipperOptions, logger *slog.Logger) (*Shipper, error) {
	if sp == nil {
		return nil, errors.New("pipeline: shipper needs a spool")
	}
	if mapFn == nil {
		return nil, errors.New("pipeline: shipper needs a map function")
	}
	if len(outs) == 0 {
		return nil, errors.New("pipeline: shipper needs at least one exporter")
	}
	if stage == nil {
		stage = PassThrough{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.setDefaults()
	sh := &Shipper{spool: sp, stage: stage, mapFn: mapFn, opts: opts, logger: logger}
	for _, e := range outs {
		sh.outs = append(sh.outs, &exporterState{exp: e})
	}
	return sh, nil
}

// Run ships until ctx is cancelled. It starts after the spool's committed
// position, so whatever the spool holds is shipped first. On cancellation
// it flushes the stage and makes one last export attempt bounded by
// FinalTimeout; it returns nil if that drained everything taken from the
// spool, and an error otherwise (nothing is lost: those entries stay in the
// spool for the next start). Run must not be called twice at once.
func (sh *Shipper) Run(ctx context.Context) error {
	if !sh.running.CompareAndSwap(false, true) {
		return errors.New("pipeline: shipper already running")
	}
	defer sh.running.Store(false)

	sh.committed = sh.spool.Stats().Committed
	sh.after = sh.committed
	sh.ready, sh.inflight = nil, nil
	sh.lastTick = time.Now()
	sh.logger.Info("shipper started", "from", sh.after, "pending", sh.spool.Stats().PendingEntries)

	readFailures := 0
	for {
		wait := max(time.Until(sh.lastTick.Add(sh.opts.TickInterval)), time.Millisecond)
		readCtx, cancel := context.WithTimeout(ctx, wait)
		entries, err := sh.spool.Read(readCtx, sh.after, sh.opts.ReadEntries)
		cancel()
		switch {
		case ctx.Err() != nil:
			return sh.shutdown(ctx)
		case err == nil, errors.Is(err, context.DeadlineExceeded):
			readFailures = 0
		case errors.Is(err, spool.ErrClosed):
			return fmt.Errorf("pipeline: shipper read spool: %w", err)
		default:
			// A read error (I/O) may pass; retrying loses nothing.
			readFailures++
			sh.logger.Error("cannot read spool; retrying", "after", sh.after, "attempt", readFailures, "err", err)
			if !sleepCtx(ctx, sh.backoff(readFailures)) {
				return sh.shutdown(ctx)
			}
			continue
		}
		now := time.Now()
		sh.take(now, entries)
		if now.Sub(sh.lastTick) >= sh.opts.TickInterval {
			sh.ready = append(sh.ready, sh.stage.Tick(now)...)
			sh.lastTick = now
		}
		if err := sh.exportReady(ctx); err != nil {
			return sh.shutdown(ctx)
		}
		// Commit at most every CommitInterval while busy, and at once when
		// caught up so the spool frees its space without waiting.
		if caughtUp := len(entries) < sh.opts.ReadEntries; caughtUp || now.Sub(sh.lastCommit) >= sh.opts.CommitInterval {
			sh.commit()
			sh.lastCommit = now
		}
	}
}

// take decodes entries and feeds their events to the stage.
func (sh *Shipper) take(now time.Time, entries []spool.Entry) {
	for _, e := range entries {
		sh.after = e.Pos
		d, err := DecodeDelivery(e.Payload, sh.opts.Parse)
		if err != nil {
			sh.undecodable.Add(1)
			sh.logger.Error("skipping undecodable spool entry", "pos", e.Pos, "err", err)
			sh.inflight = append(sh.inflight, inflightEntry{pos: e.Pos, received: now})
			continue
		}
		received := d.Source.Received
		if received.IsZero() {
			received = now
		}
		sh.inflight = append(sh.inflight, inflightEntry{pos: e.Pos, received: received})
		for _, ev := range d.Events {
			sh.ready = append(sh.ready, sh.stage.Add(now, d.Source, ev, e.Pos)...)
		}
	}
	sh.publishLag()
}

// exportReady exports sh.ready in chunks, dropping each chunk once every
// exporter confirmed it. It fails only when ctx ends; what is left in
// sh.ready was not confirmed by all exporters.
func (sh *Shipper) exportReady(ctx context.Context) error {
	for len(sh.ready) > 0 {
		n := min(len(sh.ready), sh.opts.MaxBatchRecords)
		chunk := sh.ready[:n]
		recs := make([]record.Record, 0, n)
		for _, st := range chunk {
			switch {
			case !st.Export:
			case st.Record != nil:
				recs = append(recs, *st.Record)
			default:
				recs = append(recs, sh.mapFn(st.Source, st.Event, st.Attributes))
			}
		}
		if len(recs) > 0 {
			if err := sh.exportToAll(ctx, recs); err != nil {
				return err
			}
			sh.exported.Add(uint64(len(recs)))
		}
		clear(chunk) // let the events go
		sh.ready = sh.ready[n:]
	}
	sh.ready = nil
	return nil
}

// exportToAll sends recs to every exporter in parallel, retrying each one
// until it confirms or ctx ends.
func (sh *Shipper) exportToAll(ctx context.Context, recs []record.Record) error {
	var wg sync.WaitGroup
	errs := make([]error, len(sh.outs))
	for i, out := range sh.outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sh.exportWithRetry(ctx, out, recs)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (sh *Shipper) exportWithRetry(ctx context.Context, out *exporterState, recs []record.Record) error {
	for {
		err := out.exp.Export(ctx, recs)
		if err == nil {
			if out.failures > 0 {
				sh.failing.Add(-1)
				sh.logger.Info("exporter outage ended", "exporter", out.exp.Name(),
					"duration", time.Since(out.failingSince).Round(time.Millisecond),
					"failed_attempts", out.failures, "records", len(recs))
				out.failures, out.lastErr = 0, nil
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if out.failures == 0 {
			out.failingSince = time.Now()
			sh.failing.Add(1)
			sh.logger.Warn("exporter outage started; holding records in the spool", "exporter", out.exp.Name(),
				"records", len(recs), "err", err)
		}
		out.failures++
		out.lastErr = err
		sh.retries.Add(1)
		delay := sh.backoff(out.failures)
		sh.logger.Debug("export failed, retrying", "exporter", out.exp.Name(), "attempt", out.failures, "delay", delay, "err", err)
		if !sleepCtx(ctx, delay) {
			return ctx.Err()
		}
	}
}

// sleepCtx waits for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff returns a wait between half and all of an exponentially growing
// delay, so that many gateways do not hammer a recovering backend in step.
func (sh *Shipper) backoff(failures int) time.Duration {
	d := sh.opts.MinBackoff
	for i := 1; i < failures && d < sh.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, sh.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// commit persists the highest position that every exporter confirmed and
// the stage no longer holds. Only called when sh.ready is empty, so all of
// sh.inflight was exported or is held by the stage.
func (sh *Shipper) commit() {
	target := sh.after
	if oldest, held := sh.stage.OldestPending(); held && oldest <= target {
		target = oldest - 1
	}
	if target <= sh.committed {
		return
	}
	if err := sh.spool.Commit(target); err != nil {
		// Nothing is lost: a later commit covers it; only a crash before
		// then would ship these entries again.
		sh.logger.Error("cannot commit spool position", "pos", target, "err", err)
		return
	}
	sh.committed = target
	i := 0
	for i < len(sh.inflight) && sh.inflight[i].pos <= target {
		i++
	}
	sh.inflight = append(sh.inflight[:0], sh.inflight[i:]...)
	sh.publishLag()
}

func (sh *Shipper) publishLag() {
	if len(sh.inflight) == 0 {
		sh.oldestNanos.Store(0)
		return
	}
	sh.oldestNanos.Store(sh.inflight[0].received.UnixNano())
}

// shutdown releases what the stage holds and tries once more, within
// FinalTimeout, to export and commit everything taken from the spool.
func (sh *Shipper) shutdown(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sh.opts.FinalTimeout)
	defer cancel()
	sh.ready = append(sh.ready, sh.stage.Flush()...)
	err := sh.exportReady(fctx)
	if err == nil {
		sh.commit()
		sh.logger.Info("shipper stopped", "committed", sh.committed)
		return nil
	}
	left := len(sh.ready)
	sh.logger.Warn("shipper stopped before exporters confirmed everything; the spool keeps it for the next start",
		"committed", sh.committed, "unconfirmed_events", left, "err", err)
	return fmt.Errorf("pipeline: shipper stopped with %d events unconfirmed (kept in the spool after position %d): %w", left, sh.committed, err)
}

// Stats returns current counters. It is safe to call while Run runs.
func (sh *Shipper) Stats() ShipperStats {
	sp := sh.spool.Stats()
	st := ShipperStats{
		ExportedRecords:    sh.exported.Load(),
		Retries:            sh.retries.Load(),
		UndecodableEntries: sh.undecodable.Load(),
		FailingExporters:   int(sh.failing.Load()),
		Committed:          sp.Committed,
		PendingEntries:     sp.PendingEntries,
	}
	if ns := sh.oldestNanos.Load(); ns != 0 {
		st.Lag = time.Since(time.Unix(0, ns))
	}
	return st
}
