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
	// MaxBatchRecords caps the records in one Export call (default 4096);
	// exporters split further by their own size limits (OTLP
	// max_request_bytes).
	MaxBatchRecords int
	// ReadEntries caps the spool entries (deliveries) taken per read
	// (default 1024), and ReadBytes their payload bytes (default 16 MiB),
	// which bounds each exporter's memory. Whatever has arrived since the
	// last read is taken at once, so small deliveries share one export and
	// one commit.
	ReadEntries int
	ReadBytes   int64
	// TickInterval is how often the Stage is ticked so that held events
	// are released when nothing new arrives (default 1 s).
	TickInterval time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// attempts at a failing exporter (defaults 100 ms and 30 s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// FinalTimeout bounds the last export attempt on shutdown (default 5 s).
	FinalTimeout time.Duration
	// CommitInterval is the least time between two commits of one
	// exporter's spool position (default 100 ms). A commit is one small
	// write and fsync; a longer interval only means more duplicates after
	// a crash.
	CommitInterval time.Duration
	// Linger is the least time between two exports to one exporter while
	// it keeps up (default 20 ms): deliveries that arrive meanwhile join
	// the next export, so a fleet of hosts each sending a small batch
	// costs one export (one fsync for the file exporter) per Linger, not
	// one per batch. A backlog is exported at once. Hosts are acknowledged
	// when their batch is spooled, so this adds nothing to their latency.
	Linger time.Duration
	// Parse re-parses spooled event XML (default event.Parse).
	Parse ParseFunc
	// MapEvents, when set, maps the events of one delivery that no stage
	// held or changed (PassThrough lanes) in one call into out: the same
	// records as the shipper's MapFunc with no extra attributes, but it
	// may share what the records have in common (mapping.MapEvents).
	MapEvents func(src Source, evs []*event.Event, out []record.Record)
}

func (o *ShipperOptions) setDefaults() {
	if o.MaxBatchRecords <= 0 {
		o.MaxBatchRecords = 4096
	}
	if o.ReadEntries <= 0 {
		o.ReadEntries = 1024
	}
	if o.ReadBytes <= 0 {
		o.ReadBytes = 16 << 20
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
	if o.Linger <= 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.Parse == nil {
		o.Parse = event.Parse
	}
}

// ShipperStats is a snapshot of a Shipper's counters.
type ShipperStats struct {
	// ExportedRecords is the lowest of the exporters' exported counts.
	ExportedRecords uint64
	// Retries counts failed export attempts that were retried, over all
	// exporters.
	Retries uint64
	// UndecodableEntries counts spool entries skipped as undecodable (the
	// highest count of any exporter: each counts the entries it skipped).
	UndecodableEntries uint64
	// FailingExporters is how many exporters are in an outage now.
	FailingExporters int
	// Committed is the spool position every exporter confirmed;
	// PendingEntries the spool entries after it.
	Committed      Position
	PendingEntries uint64
	// Lag is the largest of the exporters' lags.
	Lag time.Duration
	// Exporters has one entry per exporter, in configuration order.
	Exporters []ExporterStats
}

// ExporterStats is one exporter's place and health.
type ExporterStats struct {
	Name string
	// Committed is the spool position this exporter confirmed (and the
	// stage no longer holds); PendingEntries the spool entries after it.
	Committed      Position
	PendingEntries uint64
	// Lag is how long ago the oldest delivery this exporter has not
	// committed was received (zero when it has caught up).
	Lag time.Duration
	// ExportedRecords counts records this exporter confirmed; Retries its
	// failed attempts that were retried.
	ExportedRecords uint64
	Retries         uint64
	// Failing is true during an outage, since FailingSince; LastError is
	// the latest failure.
	Failing      bool
	FailingSince time.Time
	LastError    string
}

// Shipper drains the spool to the exporters. Each exporter has its own
// lane: its own spool consumer (position), its own Stage, retry and
// backoff, so an exporter that is down holds only its own position back.
// The lanes read through a shared feed, so that each entry is read and
// decoded once (and, with PassThrough stages, mapped once) for all of
// them while they keep up with each other (see the package doc).
// The spool keeps an entry until the slowest exporter has committed it.
// Each lane takes whatever deliveries have arrived since its last read,
// exports them in as few Export calls as the size limits allow and commits
// its position at most every CommitInterval. Delivery is at least once:
// after a crash or an incomplete shutdown, entries after an exporter's
// committed position are shipped to it again.
type Shipper struct {
	spool *spool.Spool
	lanes []*lane
	feed  *feed

	running atomic.Bool
}

// lane ships to one exporter. Its run-loop state is touched only by the
// goroutine running it; the atomics are for Stats.
type lane struct {
	exp    Exporter
	cons   *spool.Consumer
	feed   *feed
	idx    int // the lane's index in the feed
	stage  Stage
	mapFn  MapFunc
	opts   *ShipperOptions
	logger *slog.Logger
	// passThrough is true for a PassThrough stage: events go straight to
	// ready, and their records are the ones the feed's groups map once for
	// every lane.
	passThrough bool

	after      Position // last spool entry taken
	committed  Position
	ready      []Staged
	recs       []record.Record // reused by exportReady
	inflight   []inflightEntry // taken, not yet committed, in order
	lastTick   time.Time
	lastCommit time.Time
	lastExport time.Time
	failures   int
	// commitFailures counts commits failed in a row (logged once, and
	// again when commits work).
	commitFailures int
	// alone is true while the lane is behind the feed's window and reads
	// and decodes for itself (logged when it starts and ends).
	alone bool

	exported     atomic.Uint64
	retries      atomic.Uint64
	undecodable  atomic.Uint64
	oldestNanos  atomic.Int64 // Received of inflight[0], Unix ns; 0 if none
	failingSince atomic.Int64 // Unix ns; 0 when not failing
	lastErr      atomic.Pointer[string]
}

type inflightEntry struct {
	pos      Position
	received time.Time
}

// NewShipper returns a Shipper reading sp, which must have been opened
// with one consumer per exporter, named as Exporter.Name returns
// (spool.Options.Consumers). newStage makes each exporter's Stage; nil
// means PassThrough. A nil logger discards logs.
func NewShipper(sp *spool.Spool, newStage func(exporter string) Stage, mapFn MapFunc, outs []Exporter, opts ShipperOptions, logger *slog.Logger) (*Shipper, error) {
	if sp == nil {
		return nil, errors.New("pipeline: shipper needs a spool")
	}
	if mapFn == nil {
		return nil, errors.New("pipeline: shipper needs a map function")
	}
	if len(outs) == 0 {
		return nil, errors.New("pipeline: shipper needs at least one exporter")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.setDefaults()
	// The feed's window holds two reads, so that a lane one read behind
	// the one ahead stays in it.
	sh := &Shipper{spool: sp, feed: newFeed(sp, opts.Parse, len(outs), 2*opts.ReadEntries, 2*opts.ReadBytes)}
	for i, e := range outs {
		cons, err := sp.Consumer(e.Name())
		if err != nil {
			return nil, fmt.Errorf("pipeline: exporter %q: %w", e.Name(), err)
		}
		var stage Stage = PassThrough{}
		if newStage != nil {
			stage = newStage(e.Name())
		}
		_, passThrough := stage.(PassThrough)
		sh.lanes = append(sh.lanes, &lane{
			exp: e, cons: cons, feed: sh.feed, idx: i, stage: stage, mapFn: mapFn, opts: &opts,
			passThrough: passThrough, logger: logger.With("exporter", e.Name()),
		})
	}
	return sh, nil
}

// Run ships until ctx is cancelled, one goroutine per exporter. Each
// starts after its exporter's committed position, so whatever the spool
// holds for it is shipped first. On cancellation each lane flushes its
// stage and makes one last export attempt bounded by FinalTimeout; Run
// returns nil if that drained everything taken from the spool, and an
// error otherwise (nothing is lost: those entries stay in the spool for the
// next start). Run must not be called twice at once.
func (sh *Shipper) Run(ctx context.Context) error {
	if !sh.running.CompareAndSwap(false, true) {
		return errors.New("pipeline: shipper already running")
	}
	defer sh.running.Store(false)
	positions := make([]Position, len(sh.lanes))
	for i, l := range sh.lanes {
		positions[i] = l.cons.Committed()
	}
	sh.feed.reset(positions)
	errs := make([]error, len(sh.lanes))
	var wg sync.WaitGroup
	for i, l := range sh.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *lane) run(ctx context.Context) error {
	l.committed = l.cons.Committed()
	l.after = l.committed
	l.ready, l.inflight, l.alone = nil, nil, false
	l.lastTick, l.lastCommit = time.Now(), time.Time{}
	l.logger.Info("shipper started", "from", l.after)

	readFailures := 0
	for {
		now := time.Now()
		wait := l.lastTick.Add(l.opts.TickInterval).Sub(now)
		if l.after > l.committed {
			wait = min(wait, l.lastCommit.Add(l.opts.CommitInterval).Sub(now))
		}
		if len(l.ready) > 0 {
			wait = min(wait, l.lastExport.Add(l.opts.Linger).Sub(now))
		}
		readCtx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
		groups, backlog, err := l.read(readCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return l.shutdown(ctx)
		case err == nil, errors.Is(err, context.DeadlineExceeded):
			readFailures = 0
		case errors.Is(err, spool.ErrClosed):
			return fmt.Errorf("pipeline: shipper read spool for %s: %w", l.exp.Name(), err)
		default:
			// A read error (I/O) may pass; retrying loses nothing.
			readFailures++
			l.logger.Error("cannot read spool; retrying", "after", l.after, "attempt", readFailures, "err", err)
			if !sleepCtx(ctx, backoff(l.opts, readFailures)) {
				return l.shutdown(ctx)
			}
			continue
		}
		now = time.Now()
		// A read that hit a limit means more is waiting: no lingering.
		l.take(now, groups)
		if now.Sub(l.lastTick) >= l.opts.TickInterval {
			l.ready = append(l.ready, l.stage.Tick(now)...)
			l.lastTick = now
		}
		// Export when the linger is over or a full batch (or a backlog) is
		// there; otherwise read on and export more at once.
		full := len(l.ready) >= l.opts.MaxBatchRecords || backlog
		if len(l.ready) > 0 && (full || now.Sub(l.lastExport) >= l.opts.Linger) {
			if err := l.exportReady(ctx); err != nil {
				return l.shutdown(ctx)
			}
			l.lastExport = now
		}
		if len(l.ready) > 0 {
			continue // not exported yet: nothing new to commit
		}
		// One commit per CommitInterval, however many deliveries it covers.
		if now.Sub(l.lastCommit) >= l.opts.CommitInterval {
			l.commit()
			l.lastCommit = now
		}
	}
}

// read returns the decoded entries after l.after: from the feed, or,
// while the lane is behind the feed's window, from the spool through the
// lane's own consumer, decoded for this lane alone. backlog reports that
// more is waiting (the read hit a bound).
func (l *lane) read(ctx context.Context) (groups []*group, backlog bool, err error) {
	groups, behind, err := l.feed.read(ctx, l.idx, l.after, l.opts.ReadEntries, l.opts.ReadBytes)
	if behind == 0 {
		if l.alone && len(groups) > 0 {
			l.alone = false
			l.logger.Info("exporter caught up with the others; sharing their spool reads again", "after", l.after)
		}
		return groups, l.hitLimit(groups), err
	}
	if !l.alone {
		l.alone = true
		l.logger.Info("exporter fell behind the others; reading and decoding the spool on its own until it catches up", "after", l.after)
	}
	entries, err := l.cons.Read(ctx, l.after, behind, l.opts.ReadBytes)
	now := time.Now()
	groups = make([]*group, len(entries))
	for i, e := range entries {
		groups[i] = decodeGroup(e, l.opts.Parse, now)
	}
	return groups, l.hitLimit(groups), err
}

// hitLimit reports whether a read returned as many entries or bytes as it
// may: then more is waiting in the spool.
func (l *lane) hitLimit(groups []*group) bool {
	if len(groups) >= l.opts.ReadEntries {
		return true
	}
	var read int64
	for _, g := range groups {
		read += int64(g.size)
	}
	return read >= l.opts.ReadBytes
}

// take feeds the events of decoded entries to the stage. The groups may
// be shared with other lanes: nothing here changes them.
func (l *lane) take(now time.Time, groups []*group) {
	for _, g := range groups {
		l.after = g.pos
		l.inflight = append(l.inflight, inflightEntry{pos: g.pos, received: g.received})
		if g.err != nil {
			l.undecodable.Add(1)
			l.logger.Error("skipping undecodable spool entry", "pos", g.pos, "err", g.err)
			continue
		}
		d := g.d
		if l.passThrough {
			// The group holds the event and its Source: exportReady takes
			// its record from there, commit needs only the position.
			for i := range d.Events {
				l.ready = append(l.ready, Staged{Pos: g.pos, Export: true, group: g, index: i})
			}
			continue
		}
		for _, ev := range d.Events {
			l.ready = append(l.ready, l.stage.Add(now, d.Source, ev, g.pos)...)
		}
	}
	l.publishLag()
}

// exportReady exports l.ready in chunks, dropping each chunk once the
// exporter confirmed it. It fails only when ctx ends; what is left in
// l.ready was not confirmed.
func (l *lane) exportReady(ctx context.Context) error {
	all := l.ready
	for len(l.ready) > 0 {
		n := min(len(l.ready), l.opts.MaxBatchRecords)
		chunk := l.ready[:n]
		recs := l.recs[:0]
		for _, st := range chunk {
			switch {
			case !st.Export:
			case st.Record != nil:
				recs = append(recs, *st.Record)
			case st.group != nil:
				recs = append(recs, st.group.records(l.mapFn, l.opts.MapEvents)[st.index])
			default:
				recs = append(recs, l.mapFn(st.Source, st.Event, st.Attributes))
			}
		}
		if len(recs) > 0 {
			err := l.exportWithRetry(ctx, recs)
			clear(recs) // the exporter keeps none; let the records go
			l.recs = recs[:0]
			if err != nil {
				return err
			}
			l.exported.Add(uint64(len(recs)))
		}
		clear(chunk) // let the events go
		l.ready = l.ready[n:]
	}
	// Keep the room of a moderate ready list for the next round.
	if cap(all) <= 4*l.opts.MaxBatchRecords {
		l.ready = all[:0]
	} else {
		l.ready = nil
	}
	return nil
}

// exportWithRetry retries until the exporter confirms or ctx ends. Only
// this lane waits: the other exporters go on.
func (l *lane) exportWithRetry(ctx context.Context, recs []record.Record) error {
	for {
		err := l.exp.Export(ctx, recs)
		if err == nil {
			if l.failures > 0 {
				l.logger.Info("exporter outage ended",
					"duration", time.Since(time.Unix(0, l.failingSince.Load())).Round(time.Millisecond),
					"failed_attempts", l.failures, "records", len(recs))
				l.failures = 0
				l.failingSince.Store(0)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := err.Error()
		l.lastErr.Store(&msg)
		if l.failures == 0 {
			l.failingSince.Store(time.Now().UnixNano())
			l.logger.Warn("exporter outage started; holding its records in the spool (other exporters go on)",
				"records", len(recs), "err", err)
		}
		l.failures++
		l.retries.Add(1)
		delay := backoff(l.opts, l.failures)
		l.logger.Debug("export failed, retrying", "attempt", l.failures, "delay", delay, "err", err)
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
func backoff(o *ShipperOptions, failures int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < failures && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// commit persists the highest position below every event the exporter
// has not confirmed: those the stage holds and those still in l.ready.
func (l *lane) commit() {
	target := l.after
	if oldest, held := l.stage.OldestPending(); held && oldest <= target {
		target = oldest - 1
	}
	for _, st := range l.ready {
		if st.Pos <= target {
			target = st.Pos - 1
		}
	}
	if target <= l.committed {
		return
	}
	if err := l.cons.Commit(target); err != nil {
		// Nothing is lost: a later commit covers it; only a crash before
		// then would ship these entries again.
		if l.commitFailures == 0 {
			l.logger.Error("cannot commit spool position; retrying with every export", "pos", target, "err", err)
		}
		l.commitFailures++
		return
	}
	if l.commitFailures > 0 {
		l.logger.Info("spool position committed again", "pos", target, "failed_commits", l.commitFailures)
		l.commitFailures = 0
	}
	l.committed = target
	i := 0
	for i < len(l.inflight) && l.inflight[i].pos <= target {
		i++
	}
	l.inflight = append(l.inflight[:0], l.inflight[i:]...)
	l.publishLag()
}

func (l *lane) publishLag() {
	if len(l.inflight) == 0 {
		l.oldestNanos.Store(0)
		return
	}
	l.oldestNanos.Store(l.inflight[0].received.UnixNano())
}

// shutdown takes what has just arrived in the spool, releases what the
// stage holds and tries once more, within FinalTimeout, to export and
// commit everything taken from the spool.
func (l *lane) shutdown(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.FinalTimeout)
	defer cancel()
	err := l.drain(fctx)
	if err == nil {
		l.ready = append(l.ready, l.stage.Flush()...)
		err = l.exportReady(fctx)
	}
	if err == nil {
		l.commit()
		l.logger.Info("shipper stopped", "committed", l.committed)
		return nil
	}
	left := len(l.ready)
	l.commit() // what was confirmed before the failure
	l.logger.Warn("shipper stopped before the exporter confirmed everything; the spool keeps it for the next start",
		"committed", l.committed, "unconfirmed_events", left, "err", err)
	return fmt.Errorf("pipeline: shipper stopped with %d events unconfirmed by %s (kept in the spool after position %d): %w",
		left, l.exp.Name(), l.committed, err)
}

// drainReadWait bounds how long drain waits for more of the spool at a
// stop before it counts the lane as caught up.
const drainReadWait = 250 * time.Millisecond

// drain exports what the spool holds for this lane beyond what it took,
// so that a batch acknowledged just before a clean stop is not left for
// the next start. A backlog (a read that hits a bound) is left there:
// shutting down is not the time to catch up.
func (l *lane) drain(ctx context.Context) error {
	for {
		if err := l.exportReady(ctx); err != nil {
			return err
		}
		// Long enough for another lane to finish decoding a read this
		// lane shares (the feed), short enough not to hold up the stop
		// when nothing more is coming.
		wait := drainReadWait
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl)/2) // leave the stop its own time
		}
		readCtx, cancel := context.WithTimeout(ctx, wait)
		groups, backlog, err := l.read(readCtx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || len(groups) == 0 {
			return nil // caught up, or nothing more to read now
		}
		l.take(time.Now(), groups)
		if backlog {
			return l.exportReady(ctx)
		}
	}
}

// Stats returns current counters. It is safe to call while Run runs.
func (sh *Shipper) Stats() ShipperStats {
	sp := sh.spool.Stats()
	st := ShipperStats{Committed: sp.Committed, PendingEntries: sp.PendingEntries}
	for i, l := range sh.lanes {
		e := ExporterStats{
			Name:            l.exp.Name(),
			ExportedRecords: l.exported.Load(),
			Retries:         l.retries.Load(),
		}
		for _, c := range sp.Consumers {
			if c.Name == e.Name {
				e.Committed, e.PendingEntries = c.Committed, c.PendingEntries
			}
		}
		if ns := l.oldestNanos.Load(); ns != 0 {
			e.Lag = time.Since(time.Unix(0, ns))
		}
		if ns := l.failingSince.Load(); ns != 0 {
			e.Failing, e.FailingSince = true, time.Unix(0, ns)
			st.FailingExporters++
		}
		if msg := l.lastErr.Load(); msg != nil {
			e.LastError = *msg
		}
		if i == 0 || e.ExportedRecords < st.ExportedRecords {
			st.ExportedRecords = e.ExportedRecords
		}
		st.Retries += e.Retries
		st.UndecodableEntries = max(st.UndecodableEntries, l.undecodable.Load())
		st.Lag = max(st.Lag, e.Lag)
		st.Exporters = append(st.Exporters, e)
	}
	return st
}
