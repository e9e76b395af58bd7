package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// readCursor remembers where the previous Read stopped so that reading on
// from there needs no scan. It is guarded by the mutex of its owner
// (Spool.readMu or Consumer.readMu).
type readCursor struct {
	file  *os.File
	first uint64 // first sequence number of the open segment
	seq   uint64 // sequence number of the frame at off
	off   int64
	br    *bufio.Reader
}

func (c *readCursor) reset() {
	if c.file != nil {
		c.file.Close()
	}
	*c = readCursor{br: c.br}
}

// Read returns up to max entries that follow after, in order. It blocks
// until at least one durable entry exists after `after`, ctx ends or the
// spool is closed. Entries whose frame fails verification are skipped,
// logged and counted in Stats.CorruptEntries. Entries already deleted by
// Commit are skipped: reading resumes at the oldest entry still held.
func (s *Spool) Read(ctx context.Context, after Position, max int) ([]Entry, error) {
	return s.read(ctx, &s.readMu, &s.cursor, after, readLimit{entries: max})
}

// ReadLimit is Read bounded by maxBytes of payload as well (0: no bound;
// at least one entry is returned), on the same read cursor as Read: a
// reader with no committed position, such as the shipper's shared feed,
// which holds nothing back.
func (s *Spool) ReadLimit(ctx context.Context, after Position, max int, maxBytes int64) ([]Entry, error) {
	return s.read(ctx, &s.readMu, &s.cursor, after, readLimit{entries: max, bytes: maxBytes})
}

// readLimit bounds one read: at most entries entries and, once one entry
// is taken, at most bytes bytes of payload (0: no byte bound).
type readLimit struct {
	entries int
	bytes   int64
	taken   int
	used    int64
}

func (l *readLimit) more() bool {
	return l.taken < l.entries && (l.taken == 0 || l.bytes <= 0 || l.used < l.bytes)
}

func (l *readLimit) take(payload []byte) {
	l.taken++
	l.used += int64(len(payload))
}

func (s *Spool) read(ctx context.Context, mu *sync.Mutex, c *readCursor, after Position, lim readLimit) ([]Entry, error) {
	lim.entries = max(lim.entries, 1)
	for {
		s.mu.Lock()
		// A broken writer does not stop reading: what is durable stays
		// readable and should be shipped.
		durable, wait := s.durable, s.notify
		segs := make([]segment, len(s.segments))
		for i, g := range s.segments {
			segs[i] = *g
		}
		s.mu.Unlock()
		if uint64(after) < durable {
			entries, err := s.readFrom(mu, c, segs, uint64(after)+1, durable, &lim)
			if err != nil || len(entries) > 0 {
				return entries, err
			}
			// Everything up to durable was corrupt and skipped; wait for more.
			after = Position(durable)
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, ErrClosed
		}
	}
}

// readFrom reads entries starting at sequence number from, never beyond
// durable, using a snapshot of the segment list.
func (s *Spool) readFrom(mu *sync.Mutex, c *readCursor, segs []segment, from, durable uint64, lim *readLimit) ([]Entry, error) {
	mu.Lock()
	defer mu.Unlock()
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	var out []Entry
	for i := 0; i < len(segs) && lim.more() && from <= durable; i++ {
		g := segs[i]
		if g.count == 0 || g.last() < from {
			continue
		}
		if from < g.first {
			from = g.first // earlier entries were committed and deleted
		}
		got, next, err := s.readSegment(c, g, from, lim)
		out = append(out, got...)
		if err != nil {
			return out, err
		}
		from = next
	}
	return out, nil
}

// readSegment reads entries of g starting at sequence number from, within
// lim. It returns the sequence number to continue at.
func (s *Spool) readSegment(c *readCursor, g segment, from uint64, lim *readLimit) ([]Entry, uint64, error) {
	if c.file == nil || c.first != g.first || c.seq > from {
		c.reset()
		f, err := os.Open(g.path)
		if err != nil {
			return nil, from, fmt.Errorf("spool: open segment: %w", err)
		}
		c.file, c.first, c.seq, c.off = f, g.first, g.first, 0
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nil, readBufSize)
	}
	c.br.Reset(io.NewSectionReader(c.file, c.off, g.size-c.off))
	fr := frameReader{r: c.br, off: c.off, end: g.size}
	var out []Entry
	for c.seq <= g.last() && lim.more() {
		seq, id, body, err := fr.next()
		switch {
		case err == nil && seq >= c.seq && seq <= g.last():
		case err == nil, errors.Is(err, errBadBody):
			// A sound header with a bad body, or a stray frame (its
			// sequence number out of place): step over it.
			if err != nil && seq >= c.seq && seq <= g.last() {
				s.lost(g, from, c.seq, seq+1, err)
				c.seq = seq + 1
			}
			c.off = fr.off
			continue
		case errors.Is(err, errBadFrame) && fr.resync():
			c.off = fr.off
			continue
		case !errors.Is(err, errBadFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
			// An I/O error says nothing about the data: report it, skip nothing.
			next := c.seq
			c.reset()
			return out, next, fmt.Errorf("spool: read %s: %w", filepath.Base(g.path), err)
		default:
			// Nothing sound up to the end of the durable data: the rest
			// of the segment is lost.
			s.lost(g, from, c.seq, g.last()+1, err)
			next := g.last() + 1
			c.reset()
			return out, next, nil
		}
		if seq > c.seq {
			s.lost(g, from, c.seq, seq, errors.New("frames missing"))
		}
		c.seq = seq + 1
		c.off = fr.off
		if seq < from {
			continue
		}
		payload, err := s.codec.decode(id, body)
		if err != nil {
			s.lost(g, from, seq, seq+1, err)
			continue
		}
		out = append(out, Entry{Pos: Position(seq), Payload: payload})
		lim.take(payload)
	}
	return out, c.seq, nil
}

// lost counts and logs entries [lo, hi) of g as unreadable, leaving out
// those before from, which the caller did not ask for.
func (s *Spool) lost(g segment, from, lo, hi uint64, err error) {
	lo = max(lo, from)
	if hi <= lo {
		return
	}
	s.corrupt.Add(hi - lo)
	s.logger.Error("spool entries damaged; skipping them",
		"segment", filepath.Base(g.path), "first", lo, "count", hi-lo, "err", err)
}
