package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Group commit: appenders frame (and compress) their payload on their own
// goroutine and hand the frame to a single writer goroutine. The writer
// takes every frame waiting at that moment, writes them with one write call
// per segment and makes them durable with one fsync, so concurrent appenders
// share the cost of the sync.

const maxGroupBytes = 8 << 20

type appendReq struct {
	frame []byte
	resp  chan appendResult
}

type appendResult struct {
	seq uint64
	err error
}

// Append writes payload as one entry and returns once it is durable on
// disk. It keeps no reference to payload: the caller may reuse it once
// Append returns. It returns an error wrapping ErrFull when the entry would exceed
// Options.MaxBytes. If ctx ends while the entry is queued or being synced,
// Append returns ctx.Err(); the entry may still become durable and be read
// (delivery is at least once).
func (s *Spool) Append(ctx context.Context, payload []byte) (Position, error) {
	if len(payload) > MaxPayload {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	req := &appendReq{frame: s.codec.frame(payload), resp: make(chan appendResult, 1)}
	select {
	case s.reqs <- req:
	case <-s.done:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-req.resp:
		return Position(res.seq), res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *Spool) writeLoop() {
	defer close(s.done)
	var group []*appendReq
	probe := time.NewTimer(time.Hour)
	probe.Stop()
	defer probe.Stop()
	for {
		// While writes fail, a probe runs at a bounded interval even when
		// no append comes, so health reports recovery without traffic.
		s.mu.Lock()
		failing, next := s.failing != nil, s.nextProbe
		s.mu.Unlock()
		if failing {
			probe.Reset(max(time.Until(next), 0))
		}
		select {
		case r := <-s.reqs:
			group = append(group[:0], r)
		case <-probe.C:
			s.probe()
			continue
		case <-s.closing:
			return
		}
		probe.Stop()
		size := len(group[0].frame)
	gather:
		for size < maxGroupBytes {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				size += len(r.frame)
			default:
				break gather
			}
		}
		s.writeGroup(group)
		clear(group)
	}
}

// writeGroup writes and syncs one group and answers every request in it.
func (s *Spool) writeGroup(group []*appendReq) {
	results := make([]appendResult, len(group))
	s.mu.Lock()
	failing := s.failing
	due := failing != nil && !time.Now().Before(s.nextProbe)
	s.mu.Unlock()
	if failing != nil && (!due || !s.probe()) {
		s.mu.Lock()
		err := fmt.Errorf("%w since %s: %w", ErrUnavailable, s.failingSince.UTC().Format(time.RFC3339), s.failing)
		s.mu.Unlock()
		for _, r := range group {
			r.resp <- appendResult{err: err}
		}
		return
	}

	buf := s.groupBuf[:0]
	written := 0 // frames in buf
	var err error
	for i, r := range group {
		n := int64(len(r.frame))
		if err = s.reserve(n); err != nil {
			if err == ErrFull {
				results[i].err = fmt.Errorf("%w: %d bytes on disk, limit %d", ErrFull, s.Stats().BytesOnDisk, s.opts.MaxBytes)
				err = nil
				continue
			}
			break
		}
		if s.activeSize > 0 && s.activeSize+int64(len(buf))+n > s.opts.SegmentBytes {
			if err = s.flushAndRotate(buf, written); err != nil {
				break
			}
			buf, written = buf[:0], 0
		}
		sealFrame(r.frame, s.nextSeq)
		buf = append(buf, r.frame...)
		s.codec.recycle(r.frame)
		r.frame = nil
		results[i].seq = s.nextSeq
		s.nextSeq++
		written++
	}
	if err == nil && written > 0 {
		err = s.flushAndSync(buf, written)
	}
	if cap(buf) <= maxGroupBytes*2 {
		s.groupBuf = buf[:0]
	}
	if err != nil {
		s.writeFailed(fmt.Errorf("spool: write: %w", err))
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for i, r := range group {
		// Entries of this group made durable before the failure are
		// refused too: the forwarder sends them again (at least once).
		if err != nil && results[i].err == nil {
			results[i] = appendResult{err: err}
		}
		if results[i].err == nil {
			s.appends.Add(1)
		}
		r.resp <- results[i]
	}
}

// writeFailed puts the spool into the failing state after a write, fsync or
// segment creation failed: appends are refused with ErrUnavailable until a
// probe finds the directory writable again. Whatever the failed group wrote
// is not durable and is never read: the durable state is what readers see.
func (s *Spool) writeFailed(err error) {
	s.nextSeq = s.durable + 1 // sequence numbers of the lost group are reused
	s.mu.Lock()
	first := s.failing == nil
	if first {
		s.failingSince = time.Now()
		s.probeDelay = s.opts.ProbeMin
	} else {
		s.probeDelay = min(2*s.probeDelay, s.opts.ProbeMax)
	}
	s.failing = err
	s.nextProbe = time.Now().Add(s.probeDelay)
	// Reserved bytes of frames that never became durable are released.
	s.bytes = 0
	for _, g := range s.segments {
		s.bytes += g.size
	}
	s.mu.Unlock()
	if first {
		s.logger.Error("spool write failed; refusing appends (HTTP 503) until writing works again",
			"err", err, "probe_interval_max", s.opts.ProbeMax)
	} else {
		s.logger.Debug("spool still cannot write", "err", err, "next_probe", s.probeDelay)
	}
}

// probeBytes is what a probe writes to show the filesystem takes data
// again: enough for a typical group of batches.
const (
	probeBytes = 1 << 20
	probeFile  = "probe.tmp"
)

// probe tries to make the spool writable again: it cuts the active
// segment back to its durable size (dropping what a failed write left),
// creates a segment if none is open, and writes, syncs and removes a probe
// file. It reports whether appends may resume.
func (s *Spool) probe() bool {
	err := s.repair()
	if err != nil {
		s.writeFailed(err)
		return false
	}
	s.mu.Lock()
	since := s.failingSince
	s.failing, s.failingSince = nil, time.Time{}
	s.recoveries++
	s.mu.Unlock()
	s.logger.Info("spool writes work again; accepting appends", "failed_for", time.Since(since).Round(time.Millisecond))
	return true
}

func (s *Spool) repair() error {
	path := filepath.Join(s.dir, probeFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: probe: %w", err)
	}
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	os.Remove(path)
	if err != nil {
		return fmt.Errorf("spool: probe: %w", err)
	}
	if s.active != nil {
		s.mu.Lock()
		durableSize := s.segments[len(s.segments)-1].size
		s.mu.Unlock()
		if err := s.active.Truncate(durableSize); err != nil {
			return fmt.Errorf("spool: cut failed write: %w", err)
		}
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: cut failed write: %w", err)
		}
		s.activeSize = durableSize
		return nil
	}
	if err := s.startSegment(s.nextSeq); err != nil {
		return fmt.Errorf("spool: create segment: %w", err)
	}
	return nil
}

// reserve accounts n more bytes on disk or returns ErrFull. When the active
// segment holds only committed entries, it is sealed and deleted to make
// room, since otherwise it would never be freed.
func (s *Spool) reserve(n int64) error {
	s.mu.Lock()
	fits := s.bytes+n <= s.opts.MaxBytes
	idle := s.activeSize > 0 && s.committed >= s.nextSeq-1 && s.durable == s.nextSeq-1
	s.mu.Unlock()
	if !fits && idle {
		if err := s.rotate(); err != nil {
			return err
		}
		s.mu.Lock()
		s.dropCommittedLocked()
		fits = s.bytes+n <= s.opts.MaxBytes
		s.mu.Unlock()
	}
	if !fits {
		return ErrFull
	}
	s.mu.Lock()
	s.bytes += n
	s.mu.Unlock()
	return nil
}

// flushAndSync writes buf (holding the frames of the last `frames`
// sequence numbers) to the active segment, syncs it and publishes the new
// durable state to readers.
func (s *Spool) flushAndSync(buf []byte, frames int) error {
	if frames == 0 {
		return nil // everything written earlier was synced by its group
	}
	if len(buf) > 0 {
		if _, err := s.active.Write(buf); err != nil {
			return err
		}
		s.activeSize += int64(len(buf))
	}
	if err := s.active.Sync(); err != nil {
		return err
	}
	s.fsyncs.Add(1)
	s.mu.Lock()
	g := s.segments[len(s.segments)-1]
	g.size = s.activeSize
	g.count += uint64(frames)
	s.durable = s.nextSeq - 1
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (s *Spool) flushAndRotate(buf []byte, frames int) error {
	if err := s.flushAndSync(buf, frames); err != nil {
		return err
	}
	return s.rotate()
}

// rotate seals the (already synced) active segment and starts a new one.
// On failure no segment is active; a probe creates one.
func (s *Spool) rotate() error {
	err := s.active.Close()
	s.active = nil
	if err != nil {
		return err
	}
	return s.startSegment(s.nextSeq)
}
