package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"wefgate/config"
	"wefgate/exporters/mapping"
	"wefgate/handles"
	"wefgate/internal/accesslog"
	"wefgate/internal/admin"
	"wefgate/internal/metrics"
	"wefgate/internal/ratelog"
	"wefgate/pipeline"
	"wefgate/record"
	"wefgate/spool"
	"wefgate/subscriptions"
	"wefgate/wef/event"
	"wefgate/wef/kerberos"
	"wefgate/wef/server"
	"wefgate/wef/sldc"
)

// gateway is a wefgate being assembled: each step adds its parts and
// pushes what must be undone on the closer stack, which Run unwinds in
// reverse on every return.
type gateway struct {
	cfg     *config.Config
	logger  *slog.Logger
	closers []func()
	// lv is what a configuration reload may change while running.
	lv *live

	// open state
	store subscriptions.Store
	// stateStats counts the state store's grouped commits.
	stateStats func() subscriptions.GroupStats
	// build exporters
	outs []pipeline.Exporter
	// build sink and shipper
	sink        pipeline.Sink
	shipStats   func() pipeline.ShipperStats
	spoolStats  func() spool.Stats
	corrStats   func() handles.Stats
	spoolHealth func() error
	// build listeners
	listeners []server.Listener
	ep        endpoint
}

// onClose pushes f on the closer stack.
func (g *gateway) onClose(f func()) { g.closers = append(g.closers, f) }

// close runs the closer stack in reverse.
func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
}

// RunWithTLS is Run with the HTTPS listener's material already loaded by
// EnsureTLS (nil when https is off), so that a caller that needs it too
// (the GPO values wefgate run prints) loads it once; opts has the
// optional parts (configuration reloads).
func RunWithTLS(ctx context.Context, cfg *config.Config, mat *TLSMaterial, logger *slog.Logger, ready Ready, opts Options) error {
	// Every goroutine the gateway starts stops with this context, whichever
	// way Run returns.
	ctx, cancel := context.WithCancel(ctx)
	logger = logger.With("node", cfg.Node.Name)
	g := &gateway{cfg: cfg, logger: logger, lv: &live{logger: logger, level: opts.Level, started: cfg, applied: cfg}}
	g.lv.lastSuccess.Store(time.Now().UnixNano())
	g.onClose(cancel)
	defer g.close()
	for _, step := range []func(context.Context) error{
		g.openState,
		g.buildExporters,
		g.buildSinkAndShipper,
		func(ctx context.Context) error { return g.buildListeners(ctx, mat) },
		g.startStats,
		func(ctx context.Context) error { return g.startReloads(ctx, opts.Reload) },
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return server.ListenAndServe(ctx, g.logger, g.listeners, ready)
}

// openState opens the state store (bookmarks, host states).
func (g *gateway) openState(ctx context.Context) error {
	if err := os.MkdirAll(g.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	store, err := subscriptions.OpenState(ctx, g.cfg.State, g.cfg.StateFile(), g.cfg.Node.Name)
	if err != nil {
		return err
	}
	g.logger.Info("state store open", "backend", g.cfg.State.Backend)
	g.store = store
	g.stateStats = store.Stats
	g.onClose(func() { store.Close() })
	return nil
}

// buildExporters opens every enabled exporter.
func (g *gateway) buildExporters(ctx context.Context) error {
	outs, err := openExporters(ctx, g.cfg, g.logger)
	if err != nil {
		return err
	}
	g.outs = outs
	g.onClose(func() {
		for _, e := range outs {
			if err := e.Close(context.WithoutCancel(ctx)); err != nil {
				g.logger.Warn("closing exporter", "exporter", e.Name(), "error", err)
			}
		}
	})
	return nil
}

// buildSinkAndShipper builds what takes accepted batches: the spool and
// the shipper that drains it to the exporters, or without the spool a
// sink that exports synchronously.
func (g *gateway) buildSinkAndShipper(ctx context.Context) error {
	cfg, logger := g.cfg, g.logger
	mapOpts := cfg.Exporters.Mapping
	mapFn := func(src pipeline.Source, ev *event.Event, extra []record.KV) record.Record {
		return mapping.Map(src, ev, extra, mapOpts)
	}
	g.sink = &pipeline.DirectSink{Map: mapFn, Exporters: g.outs}
	if !*cfg.Spool.Enabled {
		return nil
	}
	// Each exporter reads the spool at its own position.
	consumers := make([]string, len(g.outs))
	for i, e := range g.outs {
		consumers[i] = e.Name()
	}
	opts := cfg.Spool.Options
	opts.Consumers = consumers
	sp, err := spool.Open(cfg.Spool.Dir, opts, logger)
	if err != nil {
		return err
	}
	g.onClose(func() { sp.Close() })
	g.spoolStats, g.spoolHealth = sp.Stats, sp.Health
	var newStage func(string) pipeline.Stage
	if cfg.Handles.Enriched {
		// One correlator per exporter: each exporter's lane moves at its
		// own pace, so each needs its own state.
		// The metrics show the first exporter's: all see the same events.
		newStage = func(exporter string) pipeline.Stage {
			hs := handles.NewStage(cfg.Handles, logger.With("exporter", exporter))
			g.lv.addStage(hs)
			hs.MapSummary = func(r record.Record) record.Record { return mapping.MapSummary(r, mapOpts) }
			if g.corrStats == nil {
				g.corrStats = hs.Stats
			}
			return hs
		}
	}
	shipper, err := pipeline.NewShipper(sp, newStage, mapFn, g.outs, pipeline.ShipperOptions{
		MapEvents: func(src pipeline.Source, evs []*event.Event, out []record.Record) {
			mapping.MapEvents(src, evs, mapOpts, out)
		},
	}, logger)
	if err != nil {
		return err
	}
	g.shipStats = shipper.Stats
	// The shipper outlives the listeners: on shutdown the server stops
	// taking batches first, then the shipper flushes what it holds.
	shipCtx, stopShipper := context.WithCancel(context.WithoutCancel(ctx))
	shipped := make(chan error, 1)
	go func() { shipped <- shipper.Run(shipCtx) }()
	g.onClose(func() {
		stopShipper()
		if err := <-shipped; err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("shipper stopped", "error", err)
		}
	})
	g.sink = pipeline.NewSpoolSink(sp)
	logger.Info("spooling to disk before export", "dir", cfg.Spool.Dir, "max_bytes", cfg.Spool.MaxBytes)
	return nil
}

// buildListeners builds the WS-Man listeners and the admin listener, with
// the endpoint's selection, observers and limits.
func (g *gateway) buildListeners(_ context.Context, mat *TLSMaterial) error {
	cfg, logger, store, lv := g.cfg, g.logger, g.store, g.lv
	keep := handles.IsHandleEvent
	if cfg.Handles.Enriched {
		keep = func(ev *event.Event) bool { return handles.IsHandleEvent(ev) || handles.IsStateEvent(ev) }
	}
	defs := definitions(cfg)
	// One pool of decompression buffers for every listener.
	decompressor := &sldc.Decompressor{}
	srvCfg := &server.Config{
		Subscriptions: serverSubscriptions(defs),
		State:         stateAdapter{store},
		Sink:          sinkAdapter{g.sink},
		Keep:          keep,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		SLDC:          decompressor.Decompress,
		ReleaseSLDC:   decompressor.Release,
		Budget:        server.NewBudget(cfg.Limits.DecompressedBytes, cfg.Limits.BudgetWait),
		Logger:        logger,
	}
	stats := &server.Stats{}
	refusalLogs := ratelog.New(cfg.Limits.RefusalLogInterval, 0, nil)
	lv.view.Store(newSubscriptionView(defs))
	heartbeats := func() map[string]time.Duration { return lv.view.Load().heartbeats }
	names := func() []string { return lv.view.Load().names }
	srvCfg.Logs = refusalLogs
	lv.refusals = refusalLogs
	hostList := func(ctx context.Context) ([]admin.Host, error) {
		return admin.Hosts(ctx, store, heartbeats(), time.Now(), "")
	}
	var observers accesslog.Observers
	var met *metrics.Metrics
	if cfg.Admin.Address != "" {
		met = metrics.New(metrics.Sources{
			Spool: g.spoolStats, Shipper: g.shipStats, Correlator: g.corrStats, Hosts: hostList, State: g.stateStats,
			Subscriptions: names, Reloads: lv.reloadStats, Logger: logger,
			// Read at scrape time, once the listeners below exist.
			Limits: func() metrics.LimitStats { return g.ep.limitStats() },
		})
		lv.metrics = met
		observers = append(observers, met)
	}
	if cfg.AccessLog.Enabled {
		al, err := accesslog.Open(cfg.AccessLog, logger)
		if err != nil {
			return err
		}
		g.onClose(func() { al.Close() })
		lv.accessLog = al
		observers = append(observers, al)
	}
	switch len(observers) {
	case 0:
	case 1:
		srvCfg.Observer = observers[0]
	default:
		srvCfg.Observer = observers
	}
	if *cfg.HTTPS.Enabled {
		l, err := httpsListener(cfg, mat, srvCfg, stats, logger, lv)
		if err != nil {
			return err
		}
		g.listeners = append(g.listeners, l)
	}
	if *cfg.HTTP.Enabled {
		acc, err := kerberos.NewAcceptor(cfg.HTTP.Keytab, logger, kerberos.WithRefusalLog(refusalLogs))
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		sec := &server.KerberosSecurity{Acceptor: acc, Logger: logger, Logs: refusalLogs}
		h := server.NewHandler(srvCfg, "http", cfg.HTTPBaseURL(), sec, stats)
		lv.handlers = append(lv.handlers, h)
		g.listeners = append(g.listeners, server.Listener{Name: "http", Addr: cfg.HTTP.Address, Handler: h, Wrap: proxyWrap(cfg, logger, refusalLogs, "http")})
	}
	// Each WS-Man listener gets its own connection caps and counters; the
	// refusal lines of every component share one rate limiter.
	g.ep = endpoint{stats: stats, budget: srvCfg.Budget, conns: map[string]*server.ConnStats{}, logs: refusalLogs, state: g.stateStats}
	for i := range g.listeners {
		g.listeners[i].Limits, g.listeners[i].Logs = cfg.Limits, refusalLogs
		g.listeners[i].Conns = &server.ConnStats{}
		g.ep.conns[g.listeners[i].Name] = g.listeners[i].Conns
	}
	if !strings.Contains(cfg.Hostname, ".") && net.ParseIP(cfg.Hostname) == nil {
		logger.Warn("hostname has no domain; Windows hosts need the fully qualified name of the GPO URL, which the server certificate and SPNs must carry: set hostname in the configuration to that name",
			"hostname", cfg.Hostname)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	if cfg.Admin.Address != "" {
		exporterNames := make([]string, len(g.outs))
		for i, e := range g.outs {
			exporterNames[i] = e.Name()
		}
		ep, shipStats, spoolStats := g.ep, g.shipStats, g.spoolStats
		var h http.Handler = &admin.Handler{
			Store: store, Logger: logger, Metrics: met.Handler(),
			Heartbeats:    heartbeats,
			Subscriptions: names,
			Stats:         func() map[string]any { return snapshot(ep, shipStats) },
			Health:        func() admin.Health { return health(exporterNames, spoolStats, shipStats) },
			Healthz:       g.spoolHealth,
		}
		h, err := cfg.Admin.Protect(h)
		if err != nil {
			return err
		}
		tlsCfg, err := cfg.Admin.TLSConfig()
		if err != nil {
			return err
		}
		g.listeners = append(g.listeners, server.Listener{Name: "admin", Addr: cfg.Admin.Address, Handler: h, TLS: tlsCfg})
	}
	return nil
}

// startStats starts the loop that logs the counters; the closer stack
// stops it and waits for it.
func (g *gateway) startStats(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	ep, shipStats := g.ep, g.shipStats
	go func() {
		defer close(done)
		reportStats(ctx, g.logger, ep.stats, func() map[string]any { return snapshot(ep, shipStats) })
	}()
	g.onClose(func() {
		stop()
		<-done
	})
	return nil
}

// startReloads applies the configurations that arrive on reloads while
// running (nil: none); the closer stack stops it and waits for it.
func (g *gateway) startReloads(ctx context.Context, reloads <-chan Reload) error {
	if reloads == nil {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.lv.run(ctx, reloads)
	}()
	g.onClose(func() {
		stop()
		<-done
	})
	return nil
}
