package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"wefgate/config"
	"wefgate/internal/app"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until wefgate stops (diagnosis)")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file on SIGUSR1 and when wefgate stops (diagnosis)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		stop := watchHeapProfile(ctx, *memProfile, stderr)
		defer stop()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	logger, level := newLeveledLogger(cfg, stderr)
	applyMemoryLimit(logger, memlimit.FromCgroup)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	pidFile := pidFilePath(cfg)
	if err := writePIDFile(pidFile); err != nil {
		return err
	}
	defer removePIDFile(pidFile)
	reloads := make(chan app.Reload)
	stopReloads := watchReload(ctx, *path, logger, reloads)
	defer stopReloads()
	var mat *app.TLSMaterial
	var thumbs []string
	if *cfg.HTTPS.Enabled {
		if mat, err = app.EnsureTLS(cfg, logger); err != nil {
			return err
		}
		if thumbs, err = issuerThumbprints(mat.CAFiles); err != nil {
			return err
		}
	}
	printGPO(stdout, cfg, 60, thumbs)
	return app.RunWithTLS(ctx, cfg, mat, logger, func(name string, addr net.Addr) {
		fmt.Fprintf(stdout, "%s listener ready on %s\n", name, addr)
	}, app.Options{Reload: reloads, Level: level})
}

// watchHeapProfile writes the heap profile to path on every SIGUSR1 ('wefgate
// load -memprofile' sends one at the end of its window, while the
// connections are open) and once more when stop is called.
func watchHeapProfile(ctx context.Context, path string, stderr io.Writer) (stop func()) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	write := func() {
		if err := writeHeapProfile(path); err != nil {
			fmt.Fprintf(stderr, "heap profile: %v\n", err)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				write()
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		cancel()
		<-done
		write()
	}
}
