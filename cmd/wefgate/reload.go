package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"wefgate/config"
	"wefgate/internal/app"
)

// PIDFile is the name, in the data directory, of the file holding the
// running wefgate's process id; 'wefgate reload' signals that process.
const PIDFile = "wefgate.pid"

// pidFilePath is where the wefgate running on cfg's data directory keeps
// its process id.
func pidFilePath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, PIDFile) }

func writePIDFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o640); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removePIDFile removes the pid file if it is still this process's: a
// second wefgate started on the same data directory may have replaced it.
func removePIDFile(path string) {
	if pid, err := readPIDFile(path); err == nil && pid == os.Getpid() {
		os.Remove(path)
	}
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a process id", path)
	}
	return pid, nil
}

// watchReload re-reads the configuration file on every SIGHUP and hands it
// to the gateway, or why it does not load or validate (the gateway then
// refuses it, says why in the log, and keeps the running configuration).
// The returned function stops watching.
func watchReload(ctx context.Context, path string, logger *slog.Logger, out chan<- app.Reload) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			logger.Info("SIGHUP: reloading the configuration", "config", path)
			next, err := config.Load(path)
			select {
			case out <- app.Reload{Config: next, Err: err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
}

// cmdReload validates the configuration file and sends SIGHUP to the
// wefgate running on its data directory.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return fmt.Errorf("reload: not sent, the configuration is invalid: %w", err)
	}
	pidFile := pidFilePath(cfg)
	pid, err := readPIDFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reload: no running wefgate on data directory %s (no %s)", cfg.DataDir, PIDFile)
	}
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	// A stale pid file may name a process id reused by another program.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && !bytes.HasPrefix(comm, []byte("wefgate")) {
		return fmt.Errorf("reload: process %d from %s is %q, not wefgate (stale pid file)", pid, pidFile, strings.TrimSpace(string(comm)))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload: signal process %d from %s: %w", pid, pidFile, err)
	}
	fmt.Fprintf(stdout, "sent SIGHUP to wefgate (pid %d); its log says what was reloaded or why it was refused\n", pid)
	return nil
}
