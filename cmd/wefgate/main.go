// Command wefgate is the Windows Event Forwarding collector gateway. Its
// subcommands run the collector, create certificates, print the GPO
// values, and simulate Windows forwarders.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"wefgate/config"
)

const usage = `wefgate: Windows Event Forwarding collector gateway

Usage:
  wefgate run [-config FILE]          start the collector (default when no subcommand)
  wefgate gpo [-config FILE]          print the GPO "Configure target Subscription Manager" values
  wefgate certs [flags]               create a CA, a server certificate and client certificates
  wefgate forwarder [flags]           simulate Windows hosts forwarding events
  wefgate hosts [-config FILE]        list the hosts with their state (active, alive, dead)
  wefgate bookmarks [-config FILE]    list the hosts' bookmarks, or set one by hand (-set)
  wefgate load [flags]                measure: run a gateway, drive it with simulated hosts (-profile throughput|fleet, -floor), report events/s, ack latency, CPU, memory
  wefgate check-config [-config FILE] validate a configuration file
  wefgate reload [-config FILE]       make the running wefgate re-read its configuration (SIGHUP)
  wefgate sigma [-rules DIR] FILE...  evaluate Sigma rules over exported JSON lines (exporters.schema: ecs)

Run 'wefgate <subcommand> -h' for the flags of each.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "wefgate:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		// Without this, the flags of run would answer for the whole binary.
		cmd, args = "help", args[1:]
	} else if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stdout, stderr)
	case "gpo":
		return cmdGPO(args, stdout, stderr)
	case "certs":
		return cmdCerts(args, stdout, stderr)
	case "forwarder":
		return cmdForwarder(ctx, args, stdout, stderr)
	case "hosts":
		return cmdHosts(ctx, args, stdout, stderr)
	case "bookmarks":
		return cmdBookmarks(ctx, args, stdout, stderr)
	case "load":
		return cmdLoad(ctx, args, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args, stdout, stderr)
	case "reload":
		return cmdReload(args, stdout, stderr)
	case "sigma":
		return cmdSigma(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
}

// configFlag adds -config, defaulting to $WEFGATE_CONFIG.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("WEFGATE_CONFIG"), "configuration file (YAML); none means built-in defaults")
}

// newLeveledLogger returns the service logger and its level variable,
// which a configuration reload sets.
func newLeveledLogger(cfg *config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.Log.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if err := checkConfigFiles(cfg); err != nil {
		return fmt.Errorf("config %s: %w", *path, err)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "configuration OK: %d subscription(s), data in %s\n", len(cfg.Subscriptions), cfg.DataDir)
	return nil
}
