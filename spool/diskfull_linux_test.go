//go:build linux

package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// mountSmallFS mounts a tmpfs of size bytes on a fresh directory and
// returns it; it is unmounted at cleanup. Without the privilege to mount
// the test is skipped, unless WEFGATE_REQUIRE_MOUNT is set.
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		if os.Getenv("WEFGATE_REQUIRE_MOUNT") != "" {
			t.Fatalf("cannot mount a tmpfs on %s: %v", dir, err)
		}
		t.Skipf("cannot mount a size-limited tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem has no space left and
// returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// Single pages may still be free; take them too.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			return path
		}
	}
}

func waitHealthy(t *testing.T, s *Spool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("spool still failing 10 s after space came back: %v", s.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var diskFullOpts = Options{SegmentBytes: 256 << 10, MaxBytes: 1 << 30, Compression: "none",
	ProbeMin: 10 * time.Millisecond, ProbeMax: 50 * time.Millisecond}

// A write that fails for lack of space stops appends only until space is
// back: the spool probes by itself and resumes, nothing acknowledged is
// lost, and positions stay contiguous.
func TestAppendResumesAfterDiskFull(t *testing.T) {
	fs := mountSmallFS(t, "4m")
	dir := filepath.Join(fs, "spool")
	s := openTest(t, dir, diskFullOpts)
	ctx := context.Background()

	var acked []Position
	payload := func(i int) []byte { return payloadFor(i)[:min(len(payloadFor(i)), 600)] }
	for i := 0; i < 5; i++ {
		pos, err := s.Append(ctx, bytes.Repeat(payload(len(acked)), 20))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, pos)
	}
	filler := fill(t, fs)
	var failure error
	for i := 0; i < 10000; i++ {
		pos, err := s.Append(ctx, bytes.Repeat(payload(len(acked)), 20))
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, pos)
	}
	if !errors.Is(failure, ErrUnavailable) || !errors.Is(failure, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ErrUnavailable wrapping ENOSPC", failure)
	}
	if err := s.Health(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Health while failing: %v", err)
	}
	if st := s.Stats(); st.WriteError == "" || st.WriteFailingSince.IsZero() {
		t.Fatalf("stats while failing: %+v", st)
	}
	// Still full: appends keep being refused, and what was acknowledged
	// stays readable.
	time.Sleep(60 * time.Millisecond)
	if _, err := s.Append(ctx, payload(0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append while still full: %v", err)
	}
	if got := readAll(t, s, 0); len(got) != len(acked) {
		t.Fatalf("read %d entries while failing, %d acknowledged", len(got), len(acked))
	}

	// Space comes back: the probe notices without any append.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s)
	for i := 0; i < 3; i++ {
		pos, err := s.Append(ctx, bytes.Repeat(payload(len(acked)), 20))
		if err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
		if want := acked[len(acked)-1] + 1; pos != want {
			t.Fatalf("position after recovery %d, want %d", pos, want)
		}
		acked = append(acked, pos)
	}
	if st := s.Stats(); st.Recoveries != 1 || st.WriteError != "" {
		t.Fatalf("stats after recovery: %+v", st)
	}
	s.Close()

	// What a failed write left behind never reads as an entry.
	s = openTest(t, dir, diskFullOpts)
	got := readAll(t, s, 0)
	if len(got) != len(acked) {
		t.Fatalf("after reopen: %d entries, %d acknowledged", len(got), len(acked))
	}
	for i, e := range got {
		if e.Pos != acked[i] || !bytes.Equal(e.Payload, bytes.Repeat(payload(i), 20)) {
			t.Fatalf("entry %d (pos %d) differs after reopen", i, e.Pos)
		}
	}
	if st := s.Stats(); st.CorruptEntries != 0 {
		t.Fatalf("corrupt entries after reopen: %+v", st)
	}
}

// Started on a disk that is already full, the spool reports failing at
// the first append and resumes once space is back.
func TestOpenOnFullDiskRecovers(t *testing.T) {
	fs := mountSmallFS(t, "1m")
	dir := filepath.Join(fs, "spool")
	filler := fill(t, fs)
	s, err := Open(dir, diskFullOpts, nil)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	if _, err := s.Append(context.Background(), payloadFor(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append on a full disk: %v, want ErrUnavailable", err)
	}
	if s.Health() == nil {
		t.Fatal("Health says ok on a full disk")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s)
	pos, err := s.Append(context.Background(), payloadFor(1))
	if err != nil || pos != 1 {
		t.Fatalf("append after space came back: %d %v", pos, err)
	}
	checkEntries(t, readAll(t, s, 0), 1, 1, 1)
}
