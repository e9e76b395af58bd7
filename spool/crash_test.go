package spool

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "WEFGATE_SPOOL_CRASH_CHILD_DIR"

var crashOpts = Options{SegmentBytes: 64 << 10, MaxBytes: 64 << 20}

// TestCrashLosesNothingAcknowledged runs a child process that appends from
// several goroutines and prints every acknowledged position, kills it with
// SIGKILL at a random moment, reopens the spool and checks that every
// acknowledged entry is there and intact. Three rounds share one directory
// so recovery also runs on top of earlier recoveries.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	acked := map[Position]int{} // position -> record number
	for round := 0; round < 3; round++ {
		for pos, n := range crashRound(t, dir, round) {
			acked[pos] = n
		}
		s, err := Open(dir, crashOpts, nil)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		st := s.Stats()
		got := map[Position][]byte{}
		for _, e := range readAll(t, s, 0) {
			got[e.Pos] = e.Payload
			var n int
			if _, err := fmt.Sscanf(string(e.Payload), "record %d|", &n); err != nil || !bytes.Equal(e.Payload, payloadFor(n)) {
				t.Fatalf("round %d: entry %d is not an intact record", round, e.Pos)
			}
		}
		missing := 0
		for pos, n := range acked {
			if pos <= st.Committed {
				continue
			}
			p, ok := got[pos]
			if !ok {
				missing++
				continue
			}
			if !bytes.Equal(p, payloadFor(n)) {
				t.Fatalf("round %d: acknowledged entry %d holds another record", round, pos)
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d acknowledged entries missing (stats %+v)", round, missing, st)
		}
		t.Logf("round %d: %d acknowledged so far, stats %+v", round, len(acked), st)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRound starts the child, kills it after a random delay and returns the
// acknowledgements it printed.
func crashRound(t *testing.T, dir string, round int) map[Position]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("WEFGATE_SPOOL_CRASH_ROUND=%d", round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[Position]int{}
	first := make(chan struct{})
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			var pos, n int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &pos, &n); err != nil {
				continue // a line cut by the kill
			}
			acks[Position(pos)] = n
			once.Do(func() { close(first) })
		}
	}()
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child acknowledged nothing")
	}
	time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-parsed
	cmd.Wait()
	return acks
}

// crashChild appends until killed, printing "ack <pos> <record>" after each
// acknowledged Append, and commits now and then so that segment deletion
// is under way when the kill lands.
func crashChild(dir string) {
	s, err := Open(dir, crashOpts, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	base := 1_000_000 * (1 + int(s.Stats().Last))
	var mu sync.Mutex
	const writers = 4
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				n := base + k*writers + w
				pos, err := s.Append(context.Background(), payloadFor(n))
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(2)
				}
				line := fmt.Sprintf("ack %d %d\n", pos, n)
				mu.Lock()
				os.Stdout.WriteString(line)
				mu.Unlock()
				if pos%97 == 0 && pos > 200 {
					if err := s.Commit(pos - 200); err != nil {
						fmt.Fprintln(os.Stderr, "child commit:", err)
						os.Exit(2)
					}
				}
			}
		}()
	}
	wg.Wait()
}
