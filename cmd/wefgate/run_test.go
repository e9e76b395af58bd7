package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHeapProfileOnSIGUSR1: 'run -memprofile' writes the heap profile
// when it gets SIGUSR1 (load sends one at the end of its window) and again
// when it stops.
func TestHeapProfileOnSIGUSR1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.prof")
	stop := watchHeapProfile(context.Background(), path, io.Discard)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			break
		}
		if i == 2000 {
			t.Fatal("no heap profile written on SIGUSR1")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no heap profile written at stop: %v", err)
	}
	// pprof's format is gzip-compressed protobuf.
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("heap profile of %d bytes is not gzip", len(b))
	}
}
