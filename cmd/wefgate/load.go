package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const loadConfig = `data_dir: %[1]s
hostname: localhost
https:
  address: 127.0.0.1:%[2]d
exporters:
  file:
    path: %[1]s/events.jsonl
spool:
  enabled: %[3]t
log:
  level: warn
`

// cmdLoad measures wefgate: it starts 'wefgate run' as a child process on a
// throw-away data directory, drives it with simulated HTTPS hosts, and
// reports the events per second it acknowledged and exported with the CPU
// time and peak memory of the gateway process alone.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hosts := fs.Int("hosts", 20, "simulated hosts")
	duration := fs.Duration("duration", 20*time.Second, "how long the hosts send")
	rate := fs.Float64("rate", 0, "events per second per host (0: as fast as wefgate takes them)")
	spoolOn := fs.Bool("spool", true, "run with the durable spool (false: synchronous export)")
	keep := fs.Bool("keep", false, "keep the data directory (its path is printed)")
	cpuProfile := fs.String("cpuprofile", "", "write the gateway's CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "wefgate-load-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	port, err := freeTCPPort()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "wefgate.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, loadConfig, dir, port, *spoolOn), 0o600); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	childArgs := []string{"run", "-config", cfgPath}
	if *cpuProfile != "" {
		abs, err := filepath.Abs(*cpuProfile)
		if err != nil {
			return err
		}
		childArgs = append(childArgs, "-cpuprofile", abs)
	}
	child := exec.Command(exe, childArgs...)
	child.Stderr = logFile
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	defer child.Process.Kill()
	if err := waitReady(out, 30*time.Second); err != nil {
		return fmt.Errorf("gateway did not start (see %s): %w", logFile.Name(), err)
	}
	go io.Copy(io.Discard, out)

	cpu0, err := processCPU(child.Process.Pid)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, fleetErr := runFleet(ctx, fleetOptions{
		ManagerURL: fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", port),
		PKIDir:     filepath.Join(dir, "pki"), Hosts: *hosts, Machine: "load%04d.example.test",
		Rate: *rate, Duration: *duration, Refresh: time.Hour,
	}, logger)
	cpu1, err := processCPU(child.Process.Pid)
	if err != nil {
		return err
	}
	peak, err := processPeakRSS(child.Process.Pid)
	if err != nil {
		return err
	}
	// SIGTERM lets the shipper drain the spool into the file before exit.
	drainStart := time.Now()
	_ = child.Process.Signal(syscall.SIGTERM)
	_ = child.Wait()
	exported, err := countLines(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return err
	}
	gatewayCPU := cpu1 - cpu0
	fmt.Fprintln(stdout, res)
	fmt.Fprintf(stdout, "gateway: acked_events_per_second=%.0f exported=%d cpu_seconds=%.2f cpu_percent_of_one_core=%.0f cpu_us_per_event=%.1f peak_rss_mib=%.1f shutdown_drain=%s\n",
		float64(res.EventsAcked)/res.Elapsed.Seconds(), exported, gatewayCPU.Seconds(),
		100*gatewayCPU.Seconds()/res.Elapsed.Seconds(), float64(gatewayCPU.Microseconds())/max(float64(res.EventsAcked), 1),
		float64(peak)/(1<<20), time.Since(drainStart).Round(time.Millisecond))
	if *keep {
		fmt.Fprintln(stdout, "data directory:", dir)
	}
	if fleetErr != nil && !errors.Is(fleetErr, context.DeadlineExceeded) {
		return fleetErr
	}
	return nil
}

func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(r io.Reader, timeout time.Duration) error {
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listener ready") {
				found <- nil
				return
			}
		}
		found <- errors.New("gateway exited")
	}()
	select {
	case err := <-found:
		return err
	case <-time.After(timeout):
		return errors.New("timed out")
	}
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// processCPU returns the user+system CPU time of a process from
// /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("gateway CPU time: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields overall.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("gateway CPU time: short /proc stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// processPeakRSS returns VmHWM (peak resident set) in bytes.
func processPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("gateway memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("gateway memory: no VmHWM")
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
