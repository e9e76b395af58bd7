// Package spool is a durable, segmented, append-only log on local disk. It
// sits between the WEF endpoint and the exporters: a batch is acknowledged
// to the Windows forwarder once Append has returned (the record is fsynced).
// Each consumer (one per exporter) reads the log in order at its own pace
// and Commits what its backend confirmed; an entry is deleted once every
// consumer has committed it. A crash at any moment loses nothing that
// Append acknowledged; a torn record at the tail is truncated on Open. A
// failed write (disk full) stops appends only until a probe succeeds.
package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Position identifies an entry: its sequence number in the log, starting at
// 1. The zero Position is "before the first entry". Positions only grow;
// they survive restarts.
type Position uint64

// Entry is one record read back from the spool. Its Payload is a new
// buffer of the reader's own: the spool keeps no reference to it.
type Entry struct {
	Pos     Position
	Payload []byte
}

var (
	// ErrFull is returned by Append when the record would take the spool
	// over Options.MaxBytes. It clears once Commit frees whole segments.
	ErrFull = errors.New("spool: full")
	// ErrClosed is returned by operations on a closed spool.
	ErrClosed = errors.New("spool: closed")
	// ErrTooLarge is returned by Append for a payload above MaxPayload.
	ErrTooLarge = errors.New("spool: payload too large")
	// ErrLocked is returned by Open when another process has the spool open.
	ErrLocked = errors.New("spool: directory locked")
	// ErrUnavailable is returned by Append while writing fails (no space
	// left, I/O error). The spool probes at a bounded interval and resumes
	// appending by itself once a probe succeeds.
	ErrUnavailable = errors.New("spool: writes failing")
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBytes     int64 = 1 << 30
	DefaultSegmentBytes int64 = 64 << 20
)

// Options tune a spool.
type Options struct {
	// MaxBytes bounds the bytes the spool keeps on disk (default 1 GiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which the active segment file is sealed
	// and a new one started (default 64 MiB, at most MaxBytes/4 so that
	// committing frees space in reasonable steps).
	SegmentBytes int64 `yaml:"segment_bytes"`
	// Compression is "s2" (default), "zstd" or "none".
	Compression string `yaml:"compression"`
	// Consumers names the readers that each commit their own position
	// (default: one, DefaultConsumer). An entry is deleted once all of
	// them committed it. A consumer new to the spool starts at the oldest
	// entry it still holds; positions of consumers no longer listed are
	// forgotten, so they hold nothing back.
	Consumers []string `yaml:"-"`
	// ProbeMin and ProbeMax bound the interval at which a spool whose
	// writes failed (disk full, I/O error) tries again; the interval
	// doubles from ProbeMin up to ProbeMax (defaults 100 ms and 5 s).
	ProbeMin time.Duration `yaml:"-"`
	ProbeMax time.Duration `yaml:"-"`
}

const (
	segmentSuffix = ".seg"
	readBufSize   = 256 << 10
)

// segment describes one segment file. first and count cover the durable
// records only; size is the durable length in bytes.
type segment struct {
	first uint64
	count uint64
	size  int64
	path  string
}

func (g *segment) last() uint64 { return g.first + g.count - 1 }

// Spool is a durable append-only log. All methods are safe for concurrent
// use.
type Spool struct {
	dir    string
	opts   Options
	logger *slog.Logger
	codec  *codec
	unlock func() // releases the directory lock

	reqs    chan *appendReq
	closing chan struct{}
	done    chan struct{}
	closed  sync.Once

	// writer-goroutine state: the active file and what has been written to
	// it but may not be durable yet.
	active     *os.File
	activeSize int64
	nextSeq    uint64
	groupBuf   []byte

	commitMu sync.Mutex  // serialises commits and guards cursors
	cursors  cursorStore // committed positions on disk

	mu        sync.Mutex
	segments  []*segment // ascending; the last one is active
	durable   uint64     // highest durable sequence number
	committed uint64     // the lowest of positions: what every consumer committed
	positions map[string]uint64
	consumers map[string]*Consumer
	bytes     int64 // on disk, including written but not yet synced
	notify    chan struct{}
	// failing is the write or fsync failure that stopped appends, until a
	// probe succeeds; failingSince is when it started.
	failing      error
	failingSince time.Time
	probeDelay   time.Duration
	nextProbe    time.Time
	recoveries   uint64

	readMu sync.Mutex
	cursor readCursor

	appends     atomic.Uint64
	commitSyncs atomic.Uint64
	fsyncs      atomic.Uint64
	corrupt     atomic.Uint64
	truncated   int64
}

// Open opens or creates the spool in dir, recovers its tail and resumes
// after the committed position.
func Open(dir string, opts Options, logger *slog.Logger) (*Spool, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if limit := opts.MaxBytes / 4; opts.SegmentBytes > limit {
		opts.SegmentBytes = max(limit, 1)
	}
	if len(opts.Consumers) == 0 {
		opts.Consumers = []string{DefaultConsumer}
	}
	if err := validateConsumers(opts.Consumers); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if opts.ProbeMin <= 0 {
		opts.ProbeMin = 100 * time.Millisecond
	}
	if opts.ProbeMax < opts.ProbeMin {
		opts.ProbeMax = max(5*time.Second, opts.ProbeMin)
	}
	c, err := newCodec(opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{
		dir:     dir,
		opts:    opts,
		logger:  logger.With("spool", dir),
		codec:   c,
		reqs:    make(chan *appendReq),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		notify:  make(chan struct{}),
		cursors: cursorStore{dir: dir},
	}
	s.consumers = make(map[string]*Consumer, len(opts.Consumers))
	for _, name := range opts.Consumers {
		s.consumers[name] = &Consumer{s: s, name: name}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		c.close()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	if s.unlock, err = lockDir(dir); err != nil {
		c.close()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	if err := s.recover(); err != nil {
		c.close()
		if s.active != nil {
			s.active.Close()
		}
		s.unlock()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	go s.writeLoop()
	return s, nil
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// recover rebuilds the in-memory state from the directory.
func (s *Spool) recover() error {
	saved, legacy, found, err := s.cursors.load()
	if err != nil {
		return err
	}
	s.positions = make(map[string]uint64, len(s.opts.Consumers))
	start := legacy
	if len(saved) > 0 {
		start = floor(saved)
	}
	for _, name := range s.opts.Consumers {
		p, ok := saved[name]
		if !ok {
			p = start
			if found && len(saved) > 0 {
				s.logger.Info("new spool consumer starts at the oldest entry held", "consumer", name, "after", p)
			}
		}
		s.positions[name] = p
	}
	for name, p := range saved {
		if _, ok := s.positions[name]; !ok {
			s.logger.Warn("forgetting the position of a spool consumer no longer configured", "consumer", name, "committed", p)
		}
	}
	s.committed = floor(s.positions)
	// Sequence numbers continue after every committed position, so that
	// even after a lost tail no consumer's position covers a new entry.
	var highest uint64
	for _, p := range s.positions {
		highest = max(highest, p)
	}
	_ = os.Remove(filepath.Join(s.dir, probeFile))

	names, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, de := range names {
		name := de.Name()
		if !strings.HasSuffix(name, segmentSuffix) || de.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil || first == 0 {
			s.logger.Warn("ignoring unexpected file in spool directory", "file", name)
			continue
		}
		s.segments = append(s.segments, &segment{first: first, path: filepath.Join(s.dir, name)})
	}
	sort.Slice(s.segments, func(i, j int) bool { return s.segments[i].first < s.segments[j].first })

	for i, g := range s.segments {
		if i == len(s.segments)-1 {
			if err := s.recoverTail(g); err != nil {
				return err
			}
			break
		}
		fi, err := os.Stat(g.path)
		if err != nil {
			return err
		}
		g.size = fi.Size()
		g.count = s.segments[i+1].first - g.first
	}

	next := highest + 1
	if n := len(s.segments); n > 0 {
		last := s.segments[n-1]
		next = max(next, last.first+last.count)
		if last.first+last.count == next {
			f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			s.active, s.activeSize = f, last.size
		}
	}
	s.nextSeq = next
	s.durable = next - 1
	if s.active == nil {
		// No segment, or the committed position is beyond the data left
		// (the tail was lost): sequence numbers must never be reused, so
		// start a fresh segment after the committed position.
		if err := s.startSegment(next); err != nil {
			// Started on a full disk: what is spooled stays readable, and
			// appends resume once a probe can create the segment.
			s.writeFailed(fmt.Errorf("spool: create segment: %w", err))
		}
	}
	for _, g := range s.segments {
		s.bytes += g.size
	}
	s.dropCommittedLocked()
	s.logger.Info("spool opened",
		"segments", len(s.segments), "bytes", s.bytes,
		"committed", s.committed, "last", s.durable,
		"pending", s.durable-min(s.committed, s.durable))
	return nil
}

// recoverTail scans the active segment, verifying every frame, and cuts a
// torn or damaged tail. Only the tail can be torn: sealed segments were
// synced before the next one was created.
func (s *Spool) recoverTail(g *segment) error {
	f, err := os.OpenFile(g.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	fr := frameReader{r: bufio.NewReaderSize(f, readBufSize), end: fi.Size()}
	// Damage followed by a sound frame is damage inside the log, not a
	// torn write: it stays (Read skips it, knowing from the sequence
	// numbers what was lost). Whatever follows the last sound frame is the
	// torn tail and goes.
	next := g.first // sequence number expected next
	var validEnd int64
	damage, inner := false, 0 // damage since the last sound frame; damaged stretches kept
scan:
	for {
		seq, _, _, err := fr.next()
		switch {
		case err == nil && seq >= next:
			if damage {
				inner++
				damage = false
			}
			next = seq + 1
			validEnd = fr.off
		case err == nil, errors.Is(err, errBadBody):
			damage = true
		case errors.Is(err, errBadFrame):
			damage = true
			if !fr.resync() {
				break scan
			}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			break scan
		default:
			return fmt.Errorf("scan %s: %w", g.path, err)
		}
	}
	g.count = next - g.first
	if inner > 0 {
		s.logger.Error("spool segment holds damaged stretches; Read will skip them",
			"segment", filepath.Base(g.path), "stretches", inner)
	}
	fr.off = validEnd
	g.size = validEnd
	if cut := fi.Size() - fr.off; cut > 0 {
		s.logger.Warn("truncating damaged spool tail",
			"segment", filepath.Base(g.path), "valid_bytes", fr.off, "dropped_bytes", cut, "records", g.count)
		if err := f.Truncate(fr.off); err != nil {
			return fmt.Errorf("truncate %s: %w", g.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", g.path, err)
		}
		s.truncated = cut
	}
	return nil
}

// startSegment creates a new empty active segment whose first record will be
// first. The directory is synced so the file survives a crash.
func (s *Spool) startSegment(first uint64) error {
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.active, s.activeSize = f, 0
	s.mu.Lock()
	s.segments = append(s.segments, &segment{first: first, path: path})
	s.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// dropCommittedLocked deletes sealed segments whose every record is
// committed. The active segment stays: the writer owns it.
func (s *Spool) dropCommittedLocked() {
	n := 0
	for n < len(s.segments)-1 && s.segments[n].count > 0 && s.segments[n].last() <= s.committed {
		n++
	}
	// Empty sealed segments (possible after a lost tail) go too.
	for n < len(s.segments)-1 && s.segments[n].count == 0 {
		n++
	}
	for i, g := range s.segments[:n] {
		if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Keep it listed, so its bytes still count and the next commit
			// tries again.
			s.logger.Error("cannot delete committed segment", "segment", g.path, "err", err)
			n = i
			break
		}
		s.bytes -= g.size
	}
	s.segments = append(s.segments[:0:0], s.segments[n:]...)
}

// Stats is a snapshot of the spool's counters.
type Stats struct {
	// BytesOnDisk is the size of all segment files; MaxBytes the bound.
	BytesOnDisk int64
	MaxBytes    int64
	Segments    int
	// Committed is the highest position every consumer confirmed; Last
	// the highest durable one; PendingEntries the count between them.
	Committed      Position
	Last           Position
	PendingEntries uint64
	// Consumers holds each consumer's committed position, in
	// Options.Consumers order.
	Consumers []ConsumerStats
	// CommitSyncs counts durable writes of the committed positions.
	CommitSyncs uint64
	// WriteError is the failure that stops appends now (empty when
	// writing works), WriteFailingSince when it started; Recoveries
	// counts the times writing resumed after a failure.
	WriteError        string
	WriteFailingSince time.Time
	Recoveries        uint64
	// Appends and Fsyncs count since Open; with concurrent appenders group
	// commit makes Fsyncs smaller than Appends.
	Appends uint64
	Fsyncs  uint64
	// CorruptEntries counts entries skipped by Read because their frame
	// failed verification; TruncatedBytes is what Open cut from a torn tail.
	CorruptEntries uint64
	TruncatedBytes int64
}

// Health returns nil while appends work, and an error wrapping
// ErrUnavailable, naming the cause and since when, while they fail.
func (s *Spool) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil {
		return nil
	}
	return fmt.Errorf("%w since %s: %w", ErrUnavailable, s.failingSince.UTC().Format(time.RFC3339), s.failing)
}

// ConsumerStats is one consumer's place in the spool.
type ConsumerStats struct {
	Name           string
	Committed      Position
	PendingEntries uint64
}

// Stats returns current counters.
func (s *Spool) Stats() Stats {
	syncs := s.commitSyncs.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]ConsumerStats, len(s.opts.Consumers))
	for i, name := range s.opts.Consumers {
		p := s.positions[name]
		cs[i] = ConsumerStats{Name: name, Committed: Position(p), PendingEntries: s.durable - min(p, s.durable)}
	}
	var werr string
	if s.failing != nil {
		werr = s.failing.Error()
	}
	return Stats{
		Consumers:         cs,
		CommitSyncs:       syncs,
		WriteError:        werr,
		WriteFailingSince: s.failingSince,
		Recoveries:        s.recoveries,
		BytesOnDisk:       s.bytes,
		MaxBytes:          s.opts.MaxBytes,
		Segments:          len(s.segments),
		Committed:         Position(s.committed),
		Last:              Position(s.durable),
		PendingEntries:    s.durable - min(s.committed, s.durable),
		Appends:           s.appends.Load(),
		Fsyncs:            s.fsyncs.Load(),
		CorruptEntries:    s.corrupt.Load(),
		TruncatedBytes:    s.truncated,
	}
}

// Close stops the writer and releases files. Appends waiting in line get
// ErrClosed; Reads blocked for data return ErrClosed.
func (s *Spool) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.closing)
		<-s.done
		if s.active != nil {
			err = s.active.Close()
		}
		s.readMu.Lock()
		s.cursor.reset()
		s.readMu.Unlock()
		for _, c := range s.consumers {
			c.readMu.Lock()
			c.cursor.reset()
			c.readMu.Unlock()
		}
		s.commitMu.Lock()
		if cerr := s.cursors.close(); cerr != nil && err == nil {
			err = cerr
		}
		s.commitMu.Unlock()
		s.codec.close()
		s.unlock()
	})
	if err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}
