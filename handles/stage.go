package handles

import (
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"wefgate/pipeline"
	"wefgate/record"
	"wefgate/wef/event"
)

// Stage runs a Correlator between the spool and the exporters
// (pipeline.Stage). Hosts are keyed by their authenticated identity, which
// unlike <Computer> cannot be forged by another host.
type Stage struct {
	c          *Correlator[stagedPos]
	logger     *slog.Logger
	statsEvery time.Duration
	lastStats  time.Time
	// snapshot is the correlator's Stats as of the last Tick: the
	// correlator belongs to the shipper's goroutine, readers take this.
	snapshot atomic.Pointer[Stats]
	// noise is a noise configuration waiting to be applied by the
	// shipper's goroutine (reload).
	noise atomic.Pointer[NoiseConfig]
	// MapSummary, when set, turns each noise summary record into the
	// exported schema (the events themselves are mapped by the shipper).
	MapSummary func(record.Record) record.Record
	// lastSrc and lastHost are the latest Source, kept once on the heap
	// for the cookies of its events, and its lower-cased host key: the
	// events of a delivery share their Source, so both are made once per
	// delivery rather than once per event.
	lastSrc  *pipeline.Source
	lastHost string
	// out is reused by convert: what Add, Tick and Flush return is valid
	// until the next call (pipeline.Stage).
	out []pipeline.Staged
}

// SetNoise replaces the noise mode and rules (configuration reload). It is
// safe for concurrent use: the correlator takes them on its next event or
// tick, and keeps its counts and summary period.
func (s *Stage) SetNoise(n NoiseConfig) {
	n.Rules = append([]NoiseRule(nil), n.Rules...)
	s.noise.Store(&n)
}

func (s *Stage) applyNoise() {
	if n := s.noise.Swap(nil); n != nil {
		s.c.cfg.Noise.Mode, s.c.cfg.Noise.Rules = n.Mode, n.Rules
		if n.SummaryInterval > 0 {
			s.c.cfg.Noise.SummaryInterval = n.SummaryInterval
		}
	}
}

// NewStage returns a Stage over a new Correlator. Every cfg.StatsInterval (when
// positive) a Tick logs the correlator's sizes and evictions, so operators
// can see the memory bounds at work.
func NewStage(cfg Config, logger *slog.Logger) *Stage {
	return &Stage{c: NewCorrelator[stagedPos](cfg), logger: logger, statsEvery: cfg.StatsInterval}
}

// stagedPos is the cookie the correlator carries for the pipeline: the
// delivery's Source travels with the event so the record can be mapped.
// The events of a delivery point to one Source, which nothing changes.
type stagedPos struct {
	src *pipeline.Source
	pos pipeline.Position
}

// Add implements pipeline.Stage.
func (s *Stage) Add(now time.Time, src pipeline.Source, ev *event.Event, pos pipeline.Position) []pipeline.Staged {
	s.applyNoise()
	if s.lastSrc == nil || *s.lastSrc != src {
		if s.lastSrc == nil || s.lastSrc.Identity != src.Identity {
			s.lastHost = strings.ToLower(src.Identity)
		}
		kept := new(pipeline.Source)
		*kept = src
		s.lastSrc = kept
	}
	return s.convert(s.c.Add(now, s.lastHost, ev, stagedPos{src: s.lastSrc, pos: pos}))
}

// Stats returns the correlator's sizes and counters as of the last Tick
// (at most the shipper's tick interval old). Safe for concurrent use.
func (s *Stage) Stats() Stats {
	if p := s.snapshot.Load(); p != nil {
		return *p
	}
	return Stats{}
}

// Tick implements pipeline.Stage.
func (s *Stage) Tick(now time.Time) []pipeline.Staged {
	defer func() { st := s.c.Stats(); s.snapshot.Store(&st) }()
	s.applyNoise()
	if s.statsEvery > 0 && s.logger != nil && now.Sub(s.lastStats) >= s.statsEvery {
		s.lastStats = now
		st := s.c.Stats()
		s.logger.Info("handle correlator", "handles", st.Handles, "duplicates", st.Duplicates, "processes", st.Processes,
			"pending", st.Pending, "hosts", st.Hosts, "state_bytes", st.StateBytes, "pending_bytes", st.PendingBytes, "matched", st.Matched, "partial", st.Partial, "unmatched", st.Unmatched,
			"noise_dropped", st.NoiseDropped, "handles_evicted", st.HandlesEvicted+st.HandlesExpired,
			"processes_evicted", st.ProcessesEvicted+st.ProcessesExpired, "released_early", st.PendingForced,
			"late_waiting", st.LateWaiting, "late_held", st.LateHeld, "late_matched", st.LateMatched, "late_expired", st.LateExpired, "late_wait", st.LateWait)
	}
	return s.convert(s.c.Tick(now))
}

// Flush implements pipeline.Stage.
func (s *Stage) Flush() []pipeline.Staged { return s.convert(s.c.Flush()) }

// OldestPending implements pipeline.Stage.
func (s *Stage) OldestPending() (pipeline.Position, bool) {
	p, ok := s.c.OldestPending()
	if !ok {
		return 0, false
	}
	return p.pos, true
}

func (s *Stage) convert(outs []Output[stagedPos]) []pipeline.Staged {
	clear(s.out) // drop the previous call's events (and the payloads behind them)
	if len(outs) == 0 {
		return nil
	}
	if cap(s.out) > 4096 && len(outs) <= 4096 {
		s.out = nil // a flush's worth is not kept for the usual few
	}
	staged := slices.Grow(s.out[:0], len(outs))[:len(outs)]
	s.out = staged
	for i, o := range outs {
		if o.Summary != nil {
			rec := summaryRecord(o)
			if s.MapSummary != nil {
				*rec = s.MapSummary(*rec)
			}
			staged[i] = pipeline.Staged{Export: true, Record: rec}
			continue
		}
		staged[i] = pipeline.Staged{Source: *o.Pos.src, Event: o.Event, Pos: o.Pos.pos, Export: o.Export, Attributes: o.Attributes}
	}
	return staged
}

// summaryRecord turns a noise summary into a record, so counts of what
// noise control tagged or dropped reach the backend instead of vanishing.
func summaryRecord(o Output[stagedPos]) *record.Record {
	s := o.Summary
	return &record.Record{
		Timestamp:      s.End,
		Observed:       s.End,
		SeverityNumber: 9,
		SeverityText:   "INFO",
		EventName:      NoiseSummaryEventName,
		HostName:       o.Host,
		Body: map[string]any{
			"message":     "handle-manipulation audit by-products " + s.Mode.String(),
			"image":       s.Image,
			"object_type": s.ObjectType,
			"duplicates":  int64(s.Duplicates),
			"closes":      int64(s.Closes),
		},
		Attributes: o.Attributes,
	}
}
