package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// eventXML returns a realistic payload: Security 4690 event XML for record
// ids starting at id, repeated until it reaches size bytes.
func eventXML(id, size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		fmt.Fprintf(&b, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4690</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-20T10:%02d:%02d.%07dZ'/><EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='%d'/><Channel>Security</Channel><Computer>ws%03d.corp.example.com</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS%03d$</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x3e7</Data><Data Name='SourceHandleId'>0x%x</Data><Data Name='SourceProcessId'>0x%x</Data><Data Name='TargetHandleId'>0x%x</Data><Data Name='TargetProcessId'>0x4</Data></EventData></Event>`+"\n",
			id%60, id%60, id*7919%10000000, id, 100+id%5000, id%200, id%200, id*4+0x1000, 0x200+id%4000, id*8+0x2000)
		id++
	}
	return b.Bytes()
}

// payloadFor is the deterministic payload of test record n.
func payloadFor(n int) []byte {
	return append([]byte(fmt.Sprintf("record %d|", n)), eventXML(n, 200+n%700)...)
}

func openTest(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t testing.TB, s *Spool, from, n int) []Position {
	t.Helper()
	var out []Position
	for i := from; i < from+n; i++ {
		pos, err := s.Append(context.Background(), payloadFor(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, pos)
	}
	return out
}

// readAll reads every entry after `after` that is durable now.
func readAll(t testing.TB, s *Spool, after Position) []Entry {
	t.Helper()
	var out []Entry
	for Position(s.Stats().Last) > after {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := s.Read(ctx, after, 7)
		cancel()
		if err != nil {
			t.Fatalf("Read after %d: %v", after, err)
		}
		out = append(out, got...)
		after = got[len(got)-1].Pos
	}
	return out
}

func checkEntries(t *testing.T, got []Entry, firstPos Position, firstRecord, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d entries, want %d", len(got), n)
	}
	for i, e := range got {
		if want := firstPos + Position(i); e.Pos != want {
			t.Fatalf("entry %d: pos %d, want %d", i, e.Pos, want)
		}
		if !bytes.Equal(e.Payload, payloadFor(firstRecord+i)) {
			t.Fatalf("entry %d (pos %d): payload differs", i, e.Pos)
		}
	}
}

func TestAppendReadCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		count int
	}{
		{"default (s2)", Options{}, 50},
		{"zstd", Options{Compression: "zstd"}, 50},
		{"none", Options{Compression: "none"}, 50},
		{"small segments", Options{SegmentBytes: 2048, MaxBytes: 1 << 20, Compression: "none"}, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), tc.opts)
			pos := appendN(t, s, 0, tc.count)
			for i, p := range pos {
				if p != Position(i+1) {
					t.Fatalf("append %d got position %d", i, p)
				}
			}
			checkEntries(t, readAll(t, s, 0), 1, 0, tc.count)
			checkEntries(t, readAll(t, s, 10), 11, 10, tc.count-10)

			before := s.Stats()
			if err := s.Commit(Position(tc.count - 5)); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			after := s.Stats()
			if after.PendingEntries != 5 || after.Committed != Position(tc.count-5) {
				t.Fatalf("after commit: %+v", after)
			}
			if before.Segments > 2 && after.Segments >= before.Segments {
				t.Fatalf("commit kept all %d segments", after.Segments)
			}
			if after.BytesOnDisk > before.BytesOnDisk {
				t.Fatalf("bytes grew on commit: %d -> %d", before.BytesOnDisk, after.BytesOnDisk)
			}
			// Reading from before the deleted segments resumes at what is left.
			got := readAll(t, s, 0)
			if len(got) == 0 || got[len(got)-1].Pos != Position(tc.count) {
				t.Fatalf("read after commit ends at %v", got)
			}
			if err := s.Commit(Position(tc.count + 1)); err == nil {
				t.Fatal("Commit beyond the last entry succeeded")
			}
		})
	}
}

func TestRestartResumesAfterCommitted(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, MaxBytes: 1 << 20}
	s, err := Open(dir, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 40)
	if err := s.Commit(25); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}

	s = openTest(t, dir, opts)
	st := s.Stats()
	if st.Committed != 25 || st.Last != 40 || st.PendingEntries != 15 {
		t.Fatalf("reopened stats %+v", st)
	}
	checkEntries(t, readAll(t, s, st.Committed), 26, 25, 15)
	if pos := appendN(t, s, 40, 1); pos[0] != 41 {
		t.Fatalf("first append after reopen got %d, want 41", pos[0])
	}

	// Everything committed and the directory reopened: positions continue.
	if err := s.Commit(41); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir, opts)
	if pos := appendN(t, s, 41, 1); pos[0] != 42 {
		t.Fatalf("append after full commit got %d, want 42", pos[0])
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(m)
	return m[len(m)-1]
}

func TestTornTailIsTruncated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		records int // intact records expected after reopen
	}{
		{"cut inside last body", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()-5); err != nil {
				t.Fatal(err)
			}
		}, 9},
		{"cut inside last header", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			last := int64(len(frameFor(t, payloadFor(9), 10)))
			if err := os.Truncate(path, fi.Size()-last+4); err != nil {
				t.Fatal(err)
			}
		}, 9},
		{"last frame fails its crc", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0x55
			if err := os.WriteFile(path, b, 0o640); err != nil {
				t.Fatal(err)
			}
		}, 9},
		{"zero-filled tail", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(make([]byte, 4096))
			f.Close()
		}, 10},
		{"garbage tail", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			torn := frameFor(t, []byte("a frame whose body never made it to disk"), 11)
			f.Write(torn[:headerSize+5])
			f.Close()
		}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Compression: "none"}
			s, err := Open(dir, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, 0, 10)
			s.Close()
			tc.damage(t, lastSegment(t, dir))

			s = openTest(t, dir, opts)
			st := s.Stats()
			if st.Last != Position(tc.records) || st.TruncatedBytes == 0 {
				t.Fatalf("after recovery: %+v", st)
			}
			checkEntries(t, readAll(t, s, 0), 1, 0, tc.records)
			// The log carries on cleanly after the cut.
			pos := appendN(t, s, tc.records, 3)
			if pos[0] != Position(tc.records+1) {
				t.Fatalf("next position %d, want %d", pos[0], tc.records+1)
			}
			checkEntries(t, readAll(t, s, 0), 1, 0, tc.records+3)
		})
	}
}

func frameFor(t *testing.T, payload []byte, seq uint64) []byte {
	c, err := newCodec("none")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	f := c.frame(payload)
	sealFrame(f, seq)
	return f
}

func TestCorruptionIsDetected(t *testing.T) {
	flip := func(offset int) func([]byte, int) {
		return func(b []byte, _ int) { b[offset] ^= 0xff }
	}
	for _, tc := range []struct {
		name string
		// segment picks the damaged file among the sorted segments; -1 is
		// the last (active) one.
		segment int
		// damage changes b, the segment from its second frame on;
		// frameLen is the length of that frame.
		damage func(b []byte, frameLen int)
		lost   int // entries lost from the second one on
	}{
		{"body of a sealed segment", 1, flip(headerSize + 3), 1},
		{"body crc of a sealed segment", 1, flip(bodyCRCOffset), 1},
		{"magic of a sealed segment", 1, flip(0), 1},
		{"length of a sealed segment", 1, flip(3), 1},
		{"sequence number of a sealed segment", 1, flip(seqOffset), 1},
		{"stretch over two frames", 1, func(b []byte, n int) { clear(b[5 : n+40]) }, 2},
		{"body inside the active segment", -1, flip(headerSize + 3), 1},
		{"header inside the active segment", -1, flip(headerCRCOffset), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			segBytes := int64(4096)
			if tc.segment < 0 {
				segBytes = 1 << 18
			}
			opts := Options{Compression: "none", SegmentBytes: segBytes, MaxBytes: 4 << 20}
			s, err := Open(dir, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, 0, 30)
			s.Close()

			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
			sort.Strings(segs)
			if tc.segment >= len(segs)-1 {
				t.Fatalf("want a sealed segment %d, got %d segments", tc.segment, len(segs))
			}
			idx := tc.segment
			if idx < 0 {
				idx = len(segs) - 1
			}
			victim := segs[idx]
			var first uint64
			fmt.Sscanf(filepath.Base(victim), "%d", &first)
			end := uint64(31)
			if idx+1 < len(segs) {
				fmt.Sscanf(filepath.Base(segs[idx+1]), "%d", &end)
			}
			if end-first < uint64(tc.lost)+2 {
				t.Fatalf("segment %s holds %d entries, too few", victim, end-first)
			}
			b, err := os.ReadFile(victim)
			if err != nil {
				t.Fatal(err)
			}
			second := len(frameFor(t, payloadFor(int(first)-1), first))
			tc.damage(b[second:], len(frameFor(t, payloadFor(int(first)), first+1)))
			if err := os.WriteFile(victim, b, 0o640); err != nil {
				t.Fatal(err)
			}
			lost := map[uint64]bool{}
			for i := 0; i < tc.lost; i++ {
				lost[first+1+uint64(i)] = true
			}

			s = openTest(t, dir, opts)
			if st := s.Stats(); st.Last != 30 || st.TruncatedBytes != 0 {
				t.Fatalf("damage inside the log was taken for a torn tail: %+v", st)
			}
			got := readAll(t, s, 0)
			if len(got) != 30-len(lost) {
				t.Fatalf("read %d entries, want %d", len(got), 30-len(lost))
			}
			for _, e := range got {
				if lost[uint64(e.Pos)] {
					t.Fatalf("entry %d from the damaged range was returned", e.Pos)
				}
				if !bytes.Equal(e.Payload, payloadFor(int(e.Pos)-1)) {
					t.Fatalf("entry %d payload differs", e.Pos)
				}
			}
			if st := s.Stats(); st.CorruptEntries != uint64(len(lost)) {
				t.Fatalf("CorruptEntries = %d, want %d", st.CorruptEntries, len(lost))
			}
			// New entries are readable past the damage, also in the
			// damaged active segment.
			appendN(t, s, 30, 2)
			if got := readAll(t, s, 30); len(got) != 2 || got[0].Pos != 31 {
				t.Fatalf("entries after reopen: %v", got)
			}
			if got := readAll(t, s, 0); len(got) != 32-len(lost) {
				t.Fatalf("full re-read got %d entries, want %d", len(got), 32-len(lost))
			}
		})
	}
}

func TestErrFullClearsAfterCommit(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, Compression: "none"})
	var last Position
	n := 0
	for ; ; n++ {
		pos, err := s.Append(context.Background(), payloadFor(n))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("Append %d: %v", n, err)
		}
		last = pos
		if n > 10000 {
			t.Fatal("spool never filled")
		}
	}
	st := s.Stats()
	if st.BytesOnDisk > st.MaxBytes {
		t.Fatalf("spool holds %d bytes over its bound %d", st.BytesOnDisk, st.MaxBytes)
	}
	if err := s.Commit(last); err != nil {
		t.Fatal(err)
	}
	// Everything but the active segment (at most SegmentBytes) is free again.
	st = s.Stats()
	if st.PendingEntries != 0 || st.BytesOnDisk > 8<<10 {
		t.Fatalf("after committing everything: %+v", st)
	}
	for i := 0; i < n/2; i++ {
		if _, err := s.Append(context.Background(), payloadFor(i)); err != nil {
			t.Fatalf("Append %d after commit: %v", i, err)
		}
	}
}

func TestErrFullFreesCommittedActiveSegment(t *testing.T) {
	// One big entry fills most of the bound on its own, inside the active
	// segment; once committed, the next Append must seal and delete that
	// segment rather than report full forever.
	s := openTest(t, t.TempDir(), Options{MaxBytes: 16 << 10, Compression: "none"})
	big := bytes.Repeat([]byte("x"), 12<<10)
	pos, err := s.Append(context.Background(), big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), big); !errors.Is(err, ErrFull) {
		t.Fatalf("second big Append: %v, want ErrFull", err)
	}
	if err := s.Commit(pos); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), big); err != nil {
		t.Fatalf("Append after commit: %v", err)
	}
}

func TestReadBlocksUntilAppend(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx, 0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read on empty spool: %v, want deadline exceeded", err)
	}
	got := make(chan []Entry, 1)
	go func() {
		e, err := s.Read(context.Background(), 0, 10)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	appendN(t, s, 0, 1)
	select {
	case e := <-got:
		if len(e) != 1 || e[0].Pos != 1 {
			t.Fatalf("blocked Read returned %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not wake up after Append")
	}
}

func TestConcurrentAppendsShareFsyncs(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	const writers, each = 16, 40
	var wg sync.WaitGroup
	seen := make(chan Position, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				pos, err := s.Append(context.Background(), payloadFor(w*each+i))
				if err != nil {
					t.Error(err)
					return
				}
				seen <- pos
			}
		}()
	}
	wg.Wait()
	close(seen)
	unique := map[Position]bool{}
	for p := range seen {
		if unique[p] {
			t.Fatalf("position %d handed out twice", p)
		}
		unique[p] = true
	}
	st := s.Stats()
	if st.Appends != writers*each || len(unique) != writers*each {
		t.Fatalf("appends %d, unique positions %d, want %d", st.Appends, len(unique), writers*each)
	}
	if st.Fsyncs >= st.Appends {
		t.Fatalf("group commit did not group: %d fsyncs for %d appends", st.Fsyncs, st.Appends)
	}
	t.Logf("%d appends, %d fsyncs", st.Appends, st.Fsyncs)
}

func TestOpenRejectsBadOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{Compression: "lz4"}, nil); err == nil {
		t.Fatal("unknown compression accepted")
	}
}

func TestOpenLocksTheDirectory(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := Open(dir, Options{}, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	s.Close()
	openTest(t, dir, Options{}) // released by Close
}

// TestReopenWithOtherCompression: every frame names its codec, so a spool
// written with one compression (zstd, the default before s2) is read
// whole after a restart with another, and new entries use the new one.
func TestReopenWithOtherCompression(t *testing.T) {
	for _, change := range [][2]string{{"zstd", "s2"}, {"s2", "zstd"}, {"none", "s2"}, {"s2", "none"}} {
		t.Run(change[0]+"→"+change[1], func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{Compression: change[0]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := appendN(t, s, 0, 20)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, dir, Options{Compression: change[1]})
			before := s.Stats().BytesOnDisk
			appendN(t, s, 20, 20)
			grew := s.Stats().BytesOnDisk - before
			checkEntries(t, readAll(t, s, first[0]-1), first[0], 0, 40)
			// New entries take as many bytes as in a spool that always
			// had the new setting: they are written with it.
			fresh := openTest(t, t.TempDir(), Options{Compression: change[1]})
			appendN(t, fresh, 0, 20)
			freshBefore := fresh.Stats().BytesOnDisk
			appendN(t, fresh, 20, 20)
			if want := fresh.Stats().BytesOnDisk - freshBefore; grew != want {
				t.Fatalf("20 entries after the change took %d bytes, %d in a %s spool", grew, want, change[1])
			}
		})
	}
}
