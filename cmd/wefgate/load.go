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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"crypto/tls"

	"wefgate/certs"
	"wefgate/internal/cputime"
	"wefgate/internal/loopback"
	"wefgate/wef/forwarder"
	"wefgate/wef/soap"
)

const fileExporterConfig = `  file:
    path: %s/events.jsonl`

const otlpExporterConfig = `  file:
    enabled: false
  otlp:
    enabled: true
    protocol: grpc
    endpoint: %s
    insecure: true`

// collectorConfig is the OpenTelemetry Collector 'wefgate load -otelcol'
// runs: an OTLP gRPC receiver into the debug exporter, which only counts.
const collectorConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
`

const loadConfig = `data_dir: %[1]s
hostname: localhost
https:
  enabled: %[4]t
  address: 127.0.0.1:%[2]d
http:
  enabled: %[5]t
  address: 127.0.0.1:%[2]d
  keytab: "%[6]s"
exporters:
%[10]s
spool:
  enabled: %[3]t
subscriptions:
  - name: load
    channel: Security
    xpath: "*"
    delivery: Custom
    max_time: %[7]s
    max_items: %[8]d
limits:
  max_connections: %[9]d
log:
  level: warn
`

// loadOptions are the flags of 'wefgate load'.
type loadOptions struct {
	profile    string
	hosts      int
	rate       float64
	maxTime    time.Duration
	maxItems   int
	duration   time.Duration
	warmup     time.Duration
	stagger    time.Duration
	transport  string
	realm      string
	floor      bool
	replay     bool
	spool      bool
	keep       bool
	cpuProfile string
	memProfile string
	memLimit   string
	driverProf string
	driverMem  string
	otelcol    string
	// collectorPID is the Collector's process when -otelcol runs one.
	collectorPID int
	// bodies are the replayed event bodies, built once for every host
	// of every phase (their events come from one shared pool).
	bodies forwarder.Bodies
	// target, targetPKI and serverPIDs drive gateways already running
	// (several nodes behind a load balancer) instead of starting one.
	target     string
	targetPKI  string
	serverPIDs string
}

// cmdLoad measures wefgate: it starts 'wefgate run' as a child process on a
// throw-away data directory, drives it with a forwarder.Fleet of simulated
// hosts, and reports what the gateway acknowledged with the CPU time and
// memory of the gateway and of the driver, and which side was the limit.
// With -floor it then drives a bare HTTPS server (a second child process)
// with the same hosts, bodies and connections, and reports the gateway as
// a ratio of that floor.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-serve-floor" {
		return serveFloor(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadOptions
	fs.StringVar(&o.profile, "profile", "throughput", "throughput: few hosts sending full batches as fast as acknowledged; fleet: many hosts at -rate events/s each, batched every -max-time as Windows does")
	fs.IntVar(&o.hosts, "hosts", 0, "simulated hosts (default 32 for throughput, 1000 for fleet)")
	fs.Float64Var(&o.rate, "rate", 1, "fleet: events per second per host")
	fs.DurationVar(&o.maxTime, "max-time", 10*time.Second, "fleet: the subscription's MaxTime (a host sends one batch per MaxTime)")
	fs.IntVar(&o.maxItems, "max-items", 0, "the subscription's MaxItems (0: none; throughput batches are then bounded by MaxEnvelopeSize)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long the hosts send, in each phase (gateway, floor)")
	var warmup, stagger autoDuration
	fs.Var(&warmup, "warmup", "`duration` not measured at the start of each phase (default: 2 s; fleet: -stagger + 2 × -max-time)")
	fs.Var(&stagger, "stagger", "spread the hosts' first connection over this `duration` (default: 0; fleet: -max-time)")
	fs.StringVar(&o.transport, "transport", "https", "https (client certificates) or kerberos (needs -realm)")
	fs.StringVar(&o.realm, "realm", "", "kerberos: directory made by scripts/kdc-up.sh (krb5.conf, wec.keytab, client.keytab with WIN001$…)")
	fs.BoolVar(&o.floor, "floor", false, "also drive a bare Go HTTPS server with the same bodies over the same connections, and print the gateway as a ratio of it")
	fs.BoolVar(&o.replay, "replay", true, "hosts re-send pre-built, pre-compressed batches (false: build, encode and compress each one)")
	fs.BoolVar(&o.spool, "spool", true, "run with the durable spool (false: synchronous export)")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directory (its path is printed)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the gateway's CPU profile to this file")
	fs.StringVar(&o.memLimit, "gateway-memlimit", "", "run the gateway with this GOMEMLIMIT (Go's soft memory limit, e.g. 900MiB; see README \"Performance\")")
	fs.StringVar(&o.memProfile, "memprofile", "", "write the gateway's heap profile at the end of the window (connections open) to this file")
	fs.StringVar(&o.otelcol, "otelcol", "", "export over OTLP/gRPC to an OpenTelemetry Collector started from this binary (scripts/build-otelcol.sh builds one) instead of the file exporter")
	fs.StringVar(&o.driverMem, "driver-memprofile", "", "write the driver's heap profile at the end of the window to this file")
	fs.StringVar(&o.driverProf, "driver-cpuprofile", "", "write the driver's CPU profile (measured windows only) to this file")
	fs.StringVar(&o.target, "target", "", "drive a running gateway or load balancer at this GPO Server= URL instead of starting one (https; needs -target-pki)")
	fs.StringVar(&o.targetPKI, "target-pki", "", "with -target: the PKI directory that issues the hosts' client certificates")
	fs.StringVar(&o.serverPIDs, "server-pids", "", "with -target: comma-separated PIDs whose CPU and memory count as the server (gateway nodes, balancer, database)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.warmup, o.stagger = warmup.or(-1), stagger.or(-1)
	if err := o.defaults(); err != nil {
		return err
	}
	if n, err := raiseNoFileLimit(); err != nil {
		fmt.Fprintf(stderr, "load: cannot raise the open-file limit (%d): %v\n", n, err)
	} else if need := uint64(o.hosts) + 512; n < need {
		return fmt.Errorf("load: %d hosts need about %d open files in each process (one connection per host and subscription), the limit is %d", o.hosts, need, n)
	}

	if o.target != "" {
		return loadTarget(ctx, &o, stdout, stderr)
	}
	dir, err := os.MkdirTemp("", "wefgate-load-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	gw, err := startGateway(ctx, dir, &o)
	if err != nil {
		return err
	}
	defer gw.kill()

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fo, err := o.fleetOptions(dir, gw.port)
	if err != nil {
		return err
	}
	gwLatency := &forwarder.Histogram{}
	fo.Host = o.hostConfig("", gwLatency)
	fmt.Fprintf(stdout, "load: profile=%s transport=%s hosts=%d %s replay=%t spool=%t duration=%s warmup=%s cpus=%d\n",
		o.profile, o.transport, o.hosts, o.offerText(), o.replay, o.spool, o.duration, o.warmup, runtime.NumCPU())
	fleet, release, err := buildFleet(fo, logger)
	if err != nil {
		return err
	}
	defer release()
	var heapProfile func()
	if o.memProfile != "" {
		// The gateway writes its heap profile on SIGUSR1 (run -memprofile).
		heapProfile = func() { _ = gw.cmd.Process.Signal(syscall.SIGUSR1) }
	}
	gwPhase, err := runPhase(ctx, fleet, gwLatency, []int{gw.pid}, &o, heapProfile)
	if err != nil {
		return err
	}
	gwPhase.print(stdout, "gateway", &o)

	var floorPhase *phaseResult
	if o.floor {
		fl, err := startFloor(ctx, dir, gw.pki)
		if err != nil {
			return err
		}
		defer fl.kill()
		floorLatency := &forwarder.Histogram{}
		fo.Host = o.hostConfig(fl.addr, floorLatency)
		floorFleet, releaseFloor, err := buildFleet(fo, logger)
		if err != nil {
			return err
		}
		defer releaseFloor()
		p, err := runPhase(ctx, floorFleet, floorLatency, []int{fl.pid}, &o, nil)
		if err != nil {
			return err
		}
		floorPhase = &p
		p.print(stdout, "floor", &o)
	}

	// SIGTERM lets the shipper drain the spool into the file before exit.
	drainStart := time.Now()
	_ = gw.cmd.Process.Signal(syscall.SIGTERM)
	_ = gw.cmd.Wait()
	exported := "to the Collector"
	if o.otelcol == "" {
		n, err := countLines(filepath.Join(dir, "events.jsonl"))
		if err != nil {
			return err
		}
		exported = strconv.Itoa(n)
	}
	fmt.Fprintf(stdout, "gateway: exported_records=%s shutdown_drain=%s\n", exported, time.Since(drainStart).Round(time.Millisecond))
	if floorPhase != nil {
		fmt.Fprintf(stdout, "floor ratio: events_per_second=%.2f cpu_per_event=%.1f (gateway %.0f events/s at %.1f µs/event; floor %.0f events/s at %.1f µs/event)\n",
			gwPhase.eventsPerSecond()/max(floorPhase.eventsPerSecond(), 1), gwPhase.serverCPUPerEvent()/max(floorPhase.serverCPUPerEvent(), 0.001),
			gwPhase.eventsPerSecond(), gwPhase.serverCPUPerEvent(), floorPhase.eventsPerSecond(), floorPhase.serverCPUPerEvent())
	}
	if o.keep {
		fmt.Fprintln(stdout, "data directory:", dir)
	}
	return nil
}

func (o *loadOptions) defaults() error {
	switch o.profile {
	case "throughput":
		if o.hosts == 0 {
			// Each host waits for its Ack (one spool and one state fsync
			// away): 16 hosts left part of two cores idle and measured the
			// fsync latency and the runtime's idle spinning as CPU per
			// event; 32 keep the gateway busy on such a machine.
			o.hosts = 32
		}
		o.rate = 0
		if o.stagger < 0 {
			o.stagger = 0
		}
		if o.warmup < 0 {
			o.warmup = 2 * time.Second
		}
	case "fleet":
		if o.hosts == 0 {
			o.hosts = 1000
		}
		if o.rate <= 0 {
			return errors.New("load: the fleet profile needs -rate > 0")
		}
		if o.stagger < 0 {
			o.stagger = o.maxTime
		}
		if o.warmup < 0 {
			// Every host has sent its first batches (and built the replayed
			// bytes of their sizes) before the window opens.
			o.warmup = o.stagger + 2*o.maxTime
		}
	default:
		return fmt.Errorf("load: -profile %q is neither throughput nor fleet", o.profile)
	}
	if o.maxTime < time.Second {
		return errors.New("load: -max-time must be at least 1s (the gateway's minimum)")
	}
	switch o.transport {
	case "https":
	case "kerberos":
		if o.realm == "" {
			return errors.New("load: -transport kerberos needs -realm (a directory made by scripts/kdc-up.sh)")
		}
		if o.floor {
			return errors.New("load: the floor is a bare HTTPS server; use it with -transport https")
		}
	default:
		return fmt.Errorf("load: -transport %q is neither https nor kerberos", o.transport)
	}
	if o.hosts <= 0 {
		return errors.New("load: -hosts must be positive")
	}
	if o.duration <= o.warmup {
		return fmt.Errorf("load: -duration %s leaves nothing after the warm-up of %s", o.duration, o.warmup)
	}
	return nil
}

func (o *loadOptions) offerText() string {
	if o.profile == "throughput" {
		return "offered=as_fast_as_acked"
	}
	return fmt.Sprintf("rate_per_host=%g max_time=%s offered_events_per_second=%.0f offered_batches_per_second=%.0f",
		o.rate, o.maxTime, o.rate*float64(o.hosts), float64(o.hosts)/batchPeriod(o.rate, o.maxTime, o.maxItems))
}

// autoDuration is a duration flag whose default depends on other flags:
// unset, it prints no default and or returns the fallback.
type autoDuration struct {
	d   time.Duration
	set bool
}

func (a *autoDuration) String() string {
	if a == nil || !a.set {
		return ""
	}
	return a.d.String()
}

func (a *autoDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	a.d, a.set = d, true
	return nil
}

func (a *autoDuration) or(fallback time.Duration) time.Duration {
	if !a.set {
		return fallback
	}
	return a.d
}

// batchPeriod is the seconds between two batches of a host logging rate
// events/s: the first pending event arrives 1/rate after the previous
// batch, then the host gathers for MaxTime, or until MaxItems.
func batchPeriod(rate float64, maxTime time.Duration, maxItems int) float64 {
	gather := maxTime.Seconds()
	if maxItems > 0 {
		gather = min(gather, float64(maxItems-1)/rate)
	}
	return 1/rate + gather
}

// hostConfig adjusts every simulated host: replay, latency, and (floor)
// the delivery address.
func (o *loadOptions) hostConfig(deliverTo string, lat *forwarder.Histogram) func(*forwarder.HostConfig) {
	return func(c *forwarder.HostConfig) {
		c.Replay = o.replay
		c.Bodies = &o.bodies
		c.DeliverTo = deliverTo
		c.AckLatency = lat
		c.StopWhenDrained = false
	}
}

func (o *loadOptions) fleetOptions(dir string, port int) (fleetOptions, error) {
	fo := fleetOptions{
		Hosts: o.hosts, Machine: "load%05d.example.test", Rate: o.rate, Refresh: time.Hour,
		Stagger: o.stagger, MemoryCerts: true, SourceAddresses: true, TrustServer: true,
		// Replayed batches carry the same events: a small pool is enough.
		Pool: 200,
	}
	if o.profile == "fleet" {
		fo.Pool = 8
	}
	if o.transport == "kerberos" {
		fo.ManagerURL = fmt.Sprintf("http://localhost:%d/wsman/SubscriptionManager/WEC", port)
		fo.Krb5Conf = filepath.Join(o.realm, "krb5.conf")
		fo.Keytab = filepath.Join(o.realm, "client.keytab")
		fo.Principal = "WIN%03d$"
		fo.Machine = "win%03d.example.test"
		fo.Scheme = "Kerberos"
		fo.SPNPrefix = "HTTP"
		return fo, nil
	}
	fo.ManagerURL = fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", port)
	fo.PKIDir = filepath.Join(dir, "pki")
	return fo, nil
}

// child is a process the load command started.
type child struct {
	cmd  *exec.Cmd
	pid  int
	port int
	addr string
	pki  string
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

func startGateway(ctx context.Context, dir string, o *loadOptions) (*child, error) {
	port, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	keytab := ""
	if o.transport == "kerberos" {
		if keytab, err = filepath.Abs(filepath.Join(o.realm, "wec.keytab")); err != nil {
			return nil, err
		}
	}
	exporters := fmt.Sprintf(fileExporterConfig, dir)
	if o.otelcol != "" {
		endpoint, pid, err := startCollector(ctx, dir, o.otelcol)
		if err != nil {
			return nil, err
		}
		o.collectorPID = pid
		exporters = fmt.Sprintf(otlpExporterConfig, endpoint)
	}
	cfgPath := filepath.Join(dir, "wefgate.yaml")
	text := fmt.Sprintf(loadConfig, dir, port, o.spool, o.transport == "https", o.transport == "kerberos", keytab, o.maxTime, o.maxItems, o.hosts+1024, exporters)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		return nil, err
	}
	childArgs := []string{"run", "-config", cfgPath}
	if o.cpuProfile != "" {
		abs, err := filepath.Abs(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		childArgs = append(childArgs, "-cpuprofile", abs)
	}
	if o.memProfile != "" {
		abs, err := filepath.Abs(o.memProfile)
		if err != nil {
			return nil, err
		}
		childArgs = append(childArgs, "-memprofile", abs)
	}
	var env []string
	if o.memLimit != "" {
		// The Go runtime's soft memory limit, for the gateway only (the
		// driver keeps its own).
		env = []string{"GOMEMLIMIT=" + o.memLimit}
	}
	c, err := startChild(ctx, filepath.Join(dir, "gateway.log"), env, childArgs...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	c.port, c.pki = port, filepath.Join(dir, "pki")
	return c, nil
}

// startCollector runs an OpenTelemetry Collector on a free loopback port
// until ctx ends and returns its OTLP/gRPC endpoint and PID.
func startCollector(ctx context.Context, dir, binary string) (endpoint string, pid int, err error) {
	port, err := loopback.FreePort()
	if err != nil {
		return "", 0, err
	}
	endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfgPath := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, collectorConfig, endpoint), 0o600); err != nil {
		return "", 0, err
	}
	logFile, err := os.Create(filepath.Join(dir, "otelcol.log"))
	if err != nil {
		return "", 0, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, binary, "--config", "file:"+cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", 0, fmt.Errorf("collector: %w", err)
	}
	// Reaped when ctx ends (the load command's lifetime) or at exit.
	go func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", endpoint, time.Second); err == nil {
			c.Close()
			return endpoint, cmd.Process.Pid, nil
		}
	}
	_ = cmd.Process.Kill()
	return "", 0, fmt.Errorf("collector did not listen on %s (see %s)", endpoint, logFile.Name())
}

func startFloor(ctx context.Context, dir, pkiDir string) (*child, error) {
	port, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := startChild(ctx, filepath.Join(dir, "floor.log"), nil, "load", "-serve-floor", "-addr", addr, "-pki", pkiDir)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	c.port, c.addr = port, fmt.Sprintf("localhost:%d", port)
	return c, nil
}

// startChild runs this executable with args and, added to this process's
// environment, env; its stderr goes into logPath. It waits for the child
// to print "listener ready".
func startChild(ctx context.Context, logPath string, env []string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The child keeps its own descriptor; ours is no longer needed.
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = logFile
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid}
	if err := waitReady(out, 30*time.Second); err != nil {
		c.kill()
		return nil, fmt.Errorf("did not start (see %s): %w", logPath, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return c, nil
}

// phaseResult is what one phase measured over its window (after the
// warm-up).
type phaseResult struct {
	window                time.Duration
	stats                 forwarder.FleetStats // during the window
	serverCPU, driverCPU  time.Duration
	machineCPU            time.Duration // all processes, all cores
	collectorCPU          time.Duration // -otelcol's Collector
	p50, p99              time.Duration
	serverRSS, serverPeak int64
	serverIdleRSS         int64
	driverRSS             int64
	hosts                 int
	err                   error
}

func (p *phaseResult) eventsPerSecond() float64 {
	return float64(p.stats.EventsAcked) / p.window.Seconds()
}

func (p *phaseResult) serverCPUPerEvent() float64 {
	return float64(p.serverCPU.Nanoseconds()) / 1000 / max(float64(p.stats.EventsAcked), 1)
}

// runPhase runs the fleet for o.duration against the server process pid
// and measures the window after the warm-up; windowEnd, when set, is
// called at the end of the window, before the hosts stop.
func runPhase(ctx context.Context, fleet *forwarder.Fleet, lat *forwarder.Histogram, pids []int, o *loadOptions, windowEnd func()) (phaseResult, error) {
	res := phaseResult{hosts: len(fleet.Hosts)}
	var err error
	if res.serverIdleRSS, err = processesRSS(pids, "VmRSS:"); err != nil {
		return res, err
	}
	// The fleet stops when the window is measured (cancel below); the
	// timeout only bounds a phase whose measurement hangs.
	runCtx, cancel := context.WithTimeout(ctx, o.duration+time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fleet.Run(runCtx) }()

	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case err := <-done:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("the fleet stopped early: %w", err)
		case <-t.C:
			return nil
		}
	}
	if err := wait(o.warmup); err != nil {
		return res, err
	}
	lat.Reset()
	if o.driverProf != "" {
		f, err := os.Create(o.driverProf)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	s0, t0 := fleet.Stats(), time.Now()
	srv0, err := processesCPU(pids)
	if err != nil {
		return res, err
	}
	drv0 := cputime.Self()
	m0 := machineCPU()
	col0 := collectorCPU(o)
	if err := wait(o.duration - o.warmup); err != nil {
		return res, err
	}
	s1, t1 := fleet.Stats(), time.Now()
	srv1, err := processesCPU(pids)
	if err != nil {
		return res, err
	}
	drv1 := cputime.Self()
	if o.driverMem != "" {
		if err := writeHeapProfile(o.driverMem); err != nil {
			return res, err
		}
	}
	if windowEnd != nil {
		windowEnd()
	}
	res.machineCPU = machineCPU() - m0
	res.collectorCPU = collectorCPU(o) - col0
	res.serverRSS, _ = processesRSS(pids, "VmRSS:")
	res.serverPeak, _ = processesRSS(pids, "VmHWM:")
	res.driverRSS, _ = processRSS(os.Getpid(), "VmRSS:")
	res.p50, res.p99 = lat.Quantile(0.5), lat.Quantile(0.99)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		res.err = err
	}
	res.window = t1.Sub(t0)
	res.serverCPU, res.driverCPU = srv1-srv0, drv1-drv0
	res.stats = forwarder.FleetStats{
		Hosts: s1.Hosts, Connections: s1.Connections, Enumerates: s1.Enumerates - s0.Enumerates, Batches: s1.Batches - s0.Batches,
		Heartbeats: s1.Heartbeats - s0.Heartbeats, EventsAcked: s1.EventsAcked - s0.EventsAcked, Retries: s1.Retries - s0.Retries,
		EnumerateFailures: s1.EnumerateFailures,
	}
	return res, nil
}

func (p *phaseResult) print(w io.Writer, name string, o *loadOptions) {
	secs := p.window.Seconds()
	srvPct := 100 * p.serverCPU.Seconds() / secs
	drvPct := 100 * p.driverCPU.Seconds() / secs
	perEvent := func(d time.Duration) float64 {
		return float64(d.Nanoseconds()) / 1000 / max(float64(p.stats.EventsAcked), 1)
	}
	acked := ""
	if o.profile == "fleet" {
		acked = fmt.Sprintf(" acked_of_offered=%.1f%%", 100*p.eventsPerSecond()/(o.rate*float64(o.hosts)))
	}
	fmt.Fprintf(w, "%s: connections_open=%d events_per_second=%.0f%s batches_per_second=%.1f events_per_batch=%.1f heartbeats=%d retries=%d enumerate_failures=%d ack_p50=%s ack_p99=%s window=%s\n",
		name, p.stats.Connections, p.eventsPerSecond(), acked, float64(p.stats.Batches)/secs, float64(p.stats.EventsAcked)/max(float64(p.stats.Batches), 1),
		p.stats.Heartbeats, p.stats.Retries, p.stats.EnumerateFailures, p.p50.Round(10*time.Microsecond), p.p99.Round(10*time.Microsecond), p.window.Round(time.Millisecond))
	fmt.Fprintf(w, "%s: server_cpu_percent=%.0f server_cpu_us_per_event=%.1f server_rss_mib=%.1f server_peak_rss_mib=%.1f rss_per_connection_kib=%.1f driver_cpu_percent=%.0f driver_cpu_us_per_event=%.1f driver_rss_mib=%.1f\n",
		name, srvPct, perEvent(p.serverCPU), float64(p.serverRSS)/(1<<20), float64(p.serverPeak)/(1<<20),
		float64(p.serverRSS-p.serverIdleRSS)/1024/float64(max(p.stats.Connections, 1)), drvPct, perEvent(p.driverCPU), float64(p.driverRSS)/(1<<20))
	colPct := 100 * p.collectorCPU.Seconds() / secs
	othersPct := max(100*p.machineCPU.Seconds()/secs-srvPct-drvPct-colPct, 0)
	if o.otelcol != "" {
		fmt.Fprintf(w, "%s: collector_cpu_percent=%.0f collector_cpu_us_per_event=%.1f\n", name, colPct, perEvent(p.collectorCPU))
	}
	fmt.Fprintf(w, "%s: other_processes_cpu_percent=%.0f\n", name, othersPct)
	fmt.Fprintf(w, "%s: limit: %s\n", name, p.limit(o, srvPct, drvPct, othersPct))
	if p.err != nil {
		fmt.Fprintf(w, "%s: fleet error: %v\n", name, p.err)
	}
}

// limit says which side bounded the phase.
func (p *phaseResult) limit(o *loadOptions, srvPct, drvPct, othersPct float64) string {
	if o.profile == "fleet" {
		offered := o.rate * float64(o.hosts)
		if got := p.eventsPerSecond(); got >= 0.95*offered {
			return fmt.Sprintf("the offered load (%.0f%% of %.0f events/s acknowledged; the server used %.0f%% of one core)", 100*got/offered, offered, srvPct)
		}
	}
	cores := float64(runtime.NumCPU()) * 100
	busy := srvPct+drvPct+othersPct >= 0.85*cores
	switch {
	case busy && othersPct >= max(srvPct, drvPct):
		return fmt.Sprintf("the machine: its %d cores were busy and other processes took the largest share (%.0f%%, against the server's %.0f%% and the driver's %.0f%%); repeat on a quiet machine",
			runtime.NumCPU(), othersPct, srvPct, drvPct)
	case busy && drvPct > srvPct:
		return fmt.Sprintf("the driver: the machine's %d cores were busy and the driver took the largest share (%.0f%%, against the server's %.0f%% and other processes' %.0f%%)", runtime.NumCPU(), drvPct, srvPct, othersPct)
	case busy:
		return fmt.Sprintf("the server's CPU: the machine's %d cores were busy, the server taking %.0f%%, the driver %.0f%%, other processes %.0f%%", runtime.NumCPU(), srvPct, drvPct, othersPct)
	case srvPct >= 90:
		return fmt.Sprintf("the server's CPU (%.0f%% of one core, cores left idle: it does not spread wider)", srvPct)
	default:
		return fmt.Sprintf("latency, not CPU: each of the %d hosts waits for its Ack before sending again, and neither process was CPU-bound (server %.0f%%, driver %.0f%% of one core); the server's time per batch (fsync, locks) bounds the rate",
			p.hosts, srvPct, drvPct)
	}
}

// serveFloor is the hidden 'wefgate load -serve-floor': a bare Go HTTPS
// server with the gateway's TLS settings (client certificate required and
// verified) that reads each request body whole and answers 200 with a
// fixed Ack, so that 'wefgate load -floor' can compare the gateway with
// the cost of TLS, HTTP and reading the bytes alone.
func serveFloor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load -serve-floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	pkiDir := fs.String("pki", "", "the gateway's PKI directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pki, err := certs.LoadPKI(*pkiDir)
	if err != nil {
		return err
	}
	v, err := certs.NewVerifier(certs.VerifierConfig{CAFiles: []string{pki.Path(certs.RootCAFile), pki.Path(certs.IssuingCAFile)}}, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	tlsCfg, err := v.ServerTLSConfig(pki.Path(certs.ServerCertFile), pki.Path(certs.ServerKeyFile))
	if err != nil {
		return err
	}
	ack := soap.EncodeUTF16LE(soap.Ack(&soap.Message{Action: soap.ActionEvents, MessageID: "uuid:00000000-0000-0000-0000-000000000000"}))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", soap.ContentType)
		_, _ = w.Write(ack)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 15 * time.Minute,
		TLSConfig: tlsCfg, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	fmt.Fprintln(stdout, "floor listener ready", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-errc:
		return err
	}
}

// raiseNoFileLimit lifts the soft open-file limit to the hard one (the
// children inherit it) and returns the limit in force.
func raiseNoFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return l.Cur, err
		}
	}
	return l.Cur, nil
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
		found <- errors.New("exited")
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

// processesCPU sums processCPU over pids.
func processesCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, p := range pids {
		d, err := processCPU(p)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// processesRSS sums processRSS over pids.
func processesRSS(pids []int, field string) (int64, error) {
	var sum int64
	for _, p := range pids {
		n, err := processRSS(p, field)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// loadTarget drives gateways that are already running, for example
// several nodes behind a load balancer: the hosts know only -target, and
// the CPU and memory of -server-pids count as the server's. The hosts'
// client certificates come from -target-pki.
func loadTarget(ctx context.Context, o *loadOptions, stdout, stderr io.Writer) error {
	if o.transport != "https" || o.floor || o.targetPKI == "" {
		return errors.New("load: -target drives HTTPS only, needs -target-pki and has no -floor")
	}
	var pids []int
	for _, f := range strings.Split(o.serverPIDs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("load: -server-pids: %q is not a PID", f)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		return errors.New("load: -target needs -server-pids (the processes to measure)")
	}
	fo, err := o.fleetOptions("", 0)
	if err != nil {
		return err
	}
	fo.ManagerURL, fo.PKIDir = o.target, o.targetPKI
	lat := &forwarder.Histogram{}
	fo.Host = o.hostConfig("", lat)
	fmt.Fprintf(stdout, "load: target=%s server_pids=%v profile=%s hosts=%d %s replay=%t duration=%s warmup=%s cpus=%d\n",
		o.target, pids, o.profile, o.hosts, o.offerText(), o.replay, o.duration, o.warmup, runtime.NumCPU())
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fleet, release, err := buildFleet(fo, logger)
	if err != nil {
		return err
	}
	defer release()
	p, err := runPhase(ctx, fleet, lat, pids, o, nil)
	if err != nil {
		return err
	}
	p.print(stdout, "target", o)
	return nil
}

// processCPU returns the user+system CPU time of a process from
// /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields overall.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("CPU time: short /proc stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// machineCPU is the busy time of all cores since boot, from /proc/stat
// (0 when unreadable).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// collectorCPU is the CPU time of -otelcol's Collector (0 without one).
func collectorCPU(o *loadOptions) time.Duration {
	if o.collectorPID == 0 {
		return 0
	}
	d, _ := processCPU(o.collectorPID)
	return d
}

// processRSS returns a /proc/PID/status memory line (VmRSS:, VmHWM:) in
// bytes.
func processRSS(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("memory of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("memory of %d: no %s", pid, field)
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
