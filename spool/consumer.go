package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// DefaultConsumer is the consumer a spool has when Options.Consumers is
// empty.
const DefaultConsumer = "default"

// Consumer is one reader of the spool with its own committed position, such
// as one exporter. The spool keeps an entry until every consumer has
// committed it, so a slow consumer holds data without holding the others
// back. A Consumer's methods are safe for concurrent use, but it is meant
// to be driven by one goroutine.
type Consumer struct {
	s    *Spool
	name string

	readMu sync.Mutex
	cursor readCursor
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.name }

// Consumer returns the consumer called name, one of Options.Consumers.
func (s *Spool) Consumer(name string) (*Consumer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consumers[name]
	if !ok {
		return nil, fmt.Errorf("spool: no consumer %q (have %v)", name, s.opts.Consumers)
	}
	return c, nil
}

// Read is Spool.Read with this consumer's own read cursor, so consumers at
// different places in the log do not make each other rescan segments.
// Besides max entries it stops once maxBytes of payload are read (0: no
// bound), but always returns at least one entry.
func (c *Consumer) Read(ctx context.Context, after Position, max int, maxBytes int64) ([]Entry, error) {
	return c.s.read(ctx, &c.readMu, &c.cursor, after, readLimit{entries: max, bytes: maxBytes})
}

// Committed returns the consumer's committed position.
func (c *Consumer) Committed() Position {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return Position(c.s.positions[c.name])
}

// Commit records that this consumer has confirmed every entry up to and
// including pos, and returns once that is durable. Entries every consumer
// has committed are deleted (whole segments at a time). Committing at or
// below the current position is a no-op; beyond the last durable entry an
// error. A commit costs one write and one fsync of a small file kept open:
// no file is created, renamed or opened per commit.
func (c *Consumer) Commit(pos Position) error {
	return c.s.commit(map[string]uint64{c.name: uint64(pos)})
}

// Commit records that every consumer has confirmed every entry up to and
// including pos (see Consumer.Commit).
func (s *Spool) Commit(pos Position) error {
	m := make(map[string]uint64, len(s.opts.Consumers))
	for _, name := range s.opts.Consumers {
		m[name] = uint64(pos)
	}
	return s.commit(m)
}

func (s *Spool) commit(want map[string]uint64) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	next := make(map[string]uint64, len(s.positions))
	changed := false
	for name, cur := range s.positions {
		next[name] = cur
		if p, ok := want[name]; ok && p > cur {
			if p > s.durable {
				s.mu.Unlock()
				return fmt.Errorf("spool: commit %d beyond last entry %d", p, s.durable)
			}
			next[name] = p
			changed = true
		}
	}
	s.mu.Unlock()
	if !changed {
		return nil
	}
	if err := s.cursors.write(s.opts.Consumers, next); err != nil {
		return fmt.Errorf("spool: persist committed positions: %w", err)
	}
	s.commitSyncs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.positions = next
	s.committed = floor(next)
	s.dropCommittedLocked()
	return nil
}

// floor returns the lowest position: what every consumer has committed.
func floor(positions map[string]uint64) uint64 {
	first := true
	var low uint64
	for _, p := range positions {
		if first || p < low {
			low, first = p, false
		}
	}
	return low
}

// Committed positions are kept in one small file of two fixed slots that
// are overwritten in turn, each stamped with a generation number and a
// CRC-32C. A torn write can only damage the slot being written; the other
// still holds the previous, lower positions, so a crash at worst ships some
// entries again and never skips one. The file is created once (by rename,
// so it never exists half-written) and then kept open.
//
//	slot: magic(4)="WGC1" generation(8) count(2) {nameLen(1) name pos(8)}* crc32c(4)
const (
	cursorsFile     = "cursors"
	cursorsTemp     = "cursors.tmp"
	cursorSlotSize  = 4096
	cursorMagic     = "WGC1"
	legacyCommitted = "committed" // one position, replaced by rename (before consumers)
	legacyBytes     = 12          // seq(8) + crc32c(4)
)

// cursorStore owns the cursors file; commitMu serialises its use.
type cursorStore struct {
	dir string
	f   *os.File // nil until the first write
	gen uint64   // generation of the newest valid slot
}

// validateConsumers checks that the names fit one slot.
func validateConsumers(names []string) error {
	size := 4 + 8 + 2 + 4
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || len(n) > 255 {
			return fmt.Errorf("consumer name %q must be 1 to 255 bytes", n)
		}
		if seen[n] {
			return fmt.Errorf("consumer %q listed twice", n)
		}
		seen[n] = true
		size += 1 + len(n) + 8
	}
	if size > cursorSlotSize {
		return fmt.Errorf("%d consumers do not fit the cursors file", len(names))
	}
	return nil
}

// load reads the saved positions. found is false for a spool that has
// never saved one; a legacy single position applies to every consumer.
func (c *cursorStore) load() (saved map[string]uint64, legacy uint64, found bool, err error) {
	_ = os.Remove(filepath.Join(c.dir, cursorsTemp))
	b, err := os.ReadFile(filepath.Join(c.dir, cursorsFile))
	if errors.Is(err, os.ErrNotExist) {
		legacy, found, err := readLegacyCommitted(filepath.Join(c.dir, legacyCommitted))
		return nil, legacy, found, err
	}
	if err != nil {
		return nil, 0, false, err
	}
	var best map[string]uint64
	for off := 0; off+cursorSlotSize <= len(b); off += cursorSlotSize {
		gen, m, ok := decodeSlot(b[off : off+cursorSlotSize])
		if ok && (best == nil || gen > c.gen) {
			best, c.gen = m, gen
		}
	}
	if best == nil {
		// Created by rename with a valid slot, then only one slot written
		// at a time: both bad is not a torn write. Refusing to guess beats
		// silently re-shipping everything or skipping.
		return nil, 0, false, fmt.Errorf("committed positions file %s is damaged", filepath.Join(c.dir, cursorsFile))
	}
	return best, 0, true, nil
}

func readLegacyCommitted(path string) (uint64, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(b) != legacyBytes || crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, false, fmt.Errorf("committed position file %s is damaged", path)
	}
	return binary.LittleEndian.Uint64(b[:8]), true, nil
}

func encodeSlot(gen uint64, names []string, pos map[string]uint64) []byte {
	b := make([]byte, 0, cursorSlotSize)
	b = append(b, cursorMagic...)
	b = binary.LittleEndian.AppendUint64(b, gen)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(names)))
	for _, n := range names {
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = binary.LittleEndian.AppendUint64(b, pos[n])
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return b[:cursorSlotSize] // zero padding: a slot is always written whole
}

func decodeSlot(b []byte) (gen uint64, pos map[string]uint64, ok bool) {
	if string(b[:4]) != cursorMagic {
		return 0, nil, false
	}
	gen = binary.LittleEndian.Uint64(b[4:])
	n := int(binary.LittleEndian.Uint16(b[12:]))
	p := 14
	pos = make(map[string]uint64, n)
	for i := 0; i < n; i++ {
		if p >= len(b) {
			return 0, nil, false
		}
		l := int(b[p])
		if p+1+l+8 > len(b) {
			return 0, nil, false
		}
		pos[string(b[p+1:p+1+l])] = binary.LittleEndian.Uint64(b[p+1+l:])
		p += 1 + l + 8
	}
	if p+4 > len(b) || crc32.Checksum(b[:p], castagnoli) != binary.LittleEndian.Uint32(b[p:]) {
		return 0, nil, false
	}
	return gen, pos, true
}

// write makes pos durable. The first write creates the file; later ones
// overwrite the older slot in place.
func (c *cursorStore) write(names []string, pos map[string]uint64) error {
	gen := c.gen + 1
	slot := encodeSlot(gen, names, pos)
	if c.f == nil {
		if err := c.create(slot); err != nil {
			return err
		}
		c.gen = gen
		return nil
	}
	if _, err := c.f.WriteAt(slot, int64(gen%2)*cursorSlotSize); err != nil {
		return err
	}
	if err := c.f.Sync(); err != nil {
		return err
	}
	c.gen = gen
	return nil
}

// create writes the file with slot in its place and the other slot empty,
// or opens the existing one.
func (c *cursorStore) create(slot []byte) error {
	path := filepath.Join(c.dir, cursorsFile)
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		c.f = f
		if _, err := f.WriteAt(slot, int64((c.gen+1)%2)*cursorSlotSize); err != nil {
			return err
		}
		return f.Sync()
	}
	var b [2 * cursorSlotSize]byte
	copy(b[((c.gen+1)%2)*cursorSlotSize:], slot)
	tmp := filepath.Join(c.dir, cursorsTemp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(c.dir)
	}
	if err != nil {
		f.Close()
		return err
	}
	c.f = f
	// The single position of earlier versions is superseded.
	_ = os.Remove(filepath.Join(c.dir, legacyCommitted))
	return nil
}

func (c *cursorStore) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
