package spool

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func consumer(t *testing.T, s *Spool, name string) *Consumer {
	t.Helper()
	c, err := s.Consumer(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func positions(s *Spool) map[string]Position {
	m := map[string]Position{}
	for _, c := range s.Stats().Consumers {
		m[c.Name] = c.Committed
	}
	return m
}

// The spool keeps what the slowest consumer has not committed, and each
// consumer's position survives a restart.
func TestConsumersCommitIndependently(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4 << 10, MaxBytes: 1 << 20, Consumers: []string{"file", "otlp"}}
	s := openTest(t, dir, opts)
	appendN(t, s, 0, 60)
	file, otlp := consumer(t, s, "file"), consumer(t, s, "otlp")
	segs := s.Stats().Segments
	if err := file.Commit(60); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Committed != 0 || st.PendingEntries != 60 || st.Segments != segs {
		t.Fatalf("after the fast consumer committed everything: %+v", st)
	}
	if err := otlp.Commit(20); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Committed != 20 || st.Segments >= segs {
		t.Fatalf("after the slow consumer committed 20: committed %d, segments %d (were %d)", st.Committed, st.Segments, segs)
	}
	// The slow consumer reads on from its position with its own cursor.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := otlp.Read(ctx, 20, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, got, 21, 20, 5)
	if err := file.Commit(61); err == nil {
		t.Fatal("commit beyond the last entry succeeded")
	}
	if _, err := s.Consumer("nope"); err == nil {
		t.Fatal("unknown consumer accepted")
	}
	s.Close()

	s = openTest(t, dir, opts)
	if p := positions(s); p["file"] != 60 || p["otlp"] != 20 {
		t.Fatalf("positions after reopen: %v", p)
	}
	checkEntries(t, readAll(t, s, s.Stats().Committed), 21, 20, 40)
	s.Close()

	// A consumer new to the spool starts at the oldest entry held; one no
	// longer configured is forgotten and holds nothing back.
	s = openTest(t, dir, Options{SegmentBytes: 4 << 10, MaxBytes: 1 << 20, Consumers: []string{"file", "kafka"}})
	if p := positions(s); p["file"] != 60 || p["kafka"] != 20 || len(p) != 2 {
		t.Fatalf("positions with a new consumer: %v", p)
	}
}

// Commits alternate between two slots: a torn write of one leaves the
// other, with lower positions, so entries are shipped again, never skipped.
func TestTornCommitFallsBackToPreviousPositions(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Consumers: []string{"file"}}
	s := openTest(t, dir, opts)
	appendN(t, s, 0, 10)
	for _, p := range []Position{3, 7} {
		if err := s.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.CommitSyncs != 2 {
		t.Fatalf("%d commit syncs for 2 commits", st.CommitSyncs)
	}
	s.Close()
	path := filepath.Join(dir, cursorsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The second commit (generation 2) went to slot 0: tear it.
	b[20] ^= 0xff
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, opts)
	if st := s.Stats(); st.Committed != 3 {
		t.Fatalf("after a torn commit: committed %d, want the previous 3", st.Committed)
	}
	// Commits go on from there.
	if err := s.Commit(9); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir, opts)
	if st := s.Stats(); st.Committed != 9 {
		t.Fatalf("committed %d, want 9", st.Committed)
	}
	s.Close()

	// Both slots damaged is not a torn write: Open refuses to guess.
	b, _ = os.ReadFile(path)
	b[20] ^= 0xff
	b[cursorSlotSize+20] ^= 0xff
	os.WriteFile(path, b, 0o640)
	if s, err := Open(dir, opts, nil); err == nil {
		s.Close()
		t.Fatal("Open accepted a damaged cursors file")
	}
}

// A spool written before consumers existed resumes every consumer at its
// single committed position.
func TestLegacyCommittedPositionApplies(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	appendN(t, s, 0, 10)
	s.Close()
	var b [legacyBytes]byte
	binary.LittleEndian.PutUint64(b[:8], 6)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if err := os.WriteFile(filepath.Join(dir, legacyCommitted), b[:], 0o640); err != nil {
		t.Fatal(err)
	}
	opts := Options{Consumers: []string{"file", "otlp"}}
	s = openTest(t, dir, opts)
	if p := positions(s); p["file"] != 6 || p["otlp"] != 6 {
		t.Fatalf("positions from the legacy file: %v", p)
	}
	if err := consumer(t, s, "file").Commit(8); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, legacyCommitted)); !os.IsNotExist(err) {
		t.Fatalf("legacy file still there after the first commit: %v", err)
	}
	s = openTest(t, dir, opts)
	if p := positions(s); p["file"] != 8 || p["otlp"] != 6 {
		t.Fatalf("positions after migration: %v", p)
	}
}

func TestConsumerNamesValidated(t *testing.T) {
	for _, names := range [][]string{{""}, {"a", "a"}, {string(make([]byte, 256))}} {
		if s, err := Open(t.TempDir(), Options{Consumers: names}, nil); err == nil {
			s.Close()
			t.Errorf("consumers %q accepted", names)
		}
	}
}

// After data was lost (here: the segment emptied behind the spool's back),
// new entries get positions after every consumer's committed one, so that
// no consumer skips them.
func TestPositionsNeverReusedAfterLostTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Consumers: []string{"fast", "slow"}}
	s := openTest(t, dir, opts)
	appendN(t, s, 0, 10)
	if err := consumer(t, s, "fast").Commit(10); err != nil {
		t.Fatal(err)
	}
	if err := consumer(t, s, "slow").Commit(2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	for _, g := range segs {
		if err := os.Truncate(g, 0); err != nil {
			t.Fatal(err)
		}
	}
	s = openTest(t, dir, opts)
	pos, err := s.Append(context.Background(), payloadFor(1))
	if err != nil {
		t.Fatal(err)
	}
	if pos != 11 {
		t.Fatalf("first entry after the loss at %d, want 11 (after the fast consumer's 10)", pos)
	}
}
