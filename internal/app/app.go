// Package app assembles a running wefgate from its configuration: the
// development PKI, the state store, the exporters, the pipeline and the
// listeners. The wefgate binary and the end-to-end tests both start it
// through Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"wefgate/certs"
	"wefgate/config"
	"wefgate/exporters/file"
	"wefgate/exporters/mapping"
	"wefgate/exporters/otlp"
	"wefgate/handles"
	"wefgate/internal/accesslog"
	"wefgate/internal/admin"
	"wefgate/internal/metrics"
	"wefgate/internal/proxyheader"
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

// PKIDir is where the development PKI lives inside the data directory.
const PKIDir = "pki"

// TLSMaterial is what the HTTPS listener uses: the server certificate and
// the CA files client certificates are verified against.
type TLSMaterial struct {
	ServerCert, ServerKey string
	CAFiles               []string
	CRLFiles              []string
	// Dev is set when the material is the generated development PKI.
	Dev *certs.PKI
}

// EnsureTLS returns the configured certificates, or creates/loads the
// development PKI in the data directory when none are configured.
func EnsureTLS(cfg *config.Config, logger *slog.Logger) (*TLSMaterial, error) {
	if cfg.HTTPS.ServerCert != "" {
		return &TLSMaterial{ServerCert: cfg.HTTPS.ServerCert, ServerKey: cfg.HTTPS.ServerKey, CAFiles: cfg.HTTPS.CAFiles, CRLFiles: cfg.HTTPS.CRLFiles}, nil
	}
	dir := filepath.Join(cfg.DataDir, PKIDir)
	pki, created, err := certs.EnsureDevPKI(dir, []string{cfg.Hostname})
	if err != nil {
		return nil, fmt.Errorf("development PKI: %w", err)
	}
	if created {
		logger.Info("created a development PKI; issue client certificates with 'wefgate certs'", "dir", dir)
	}
	m := &TLSMaterial{
		ServerCert: pki.Path(certs.ServerCertFile), ServerKey: pki.Path(certs.ServerKeyFile),
		CAFiles: []string{pki.Path(certs.RootCAFile), pki.Path(certs.IssuingCAFile)}, Dev: pki,
	}
	if len(cfg.HTTPS.CAFiles) > 0 {
		m.CAFiles = cfg.HTTPS.CAFiles
	} else {
		// Revocations made with 'wefgate certs -revoke' take effect
		// without a restart.
		m.CRLFiles = []string{pki.Path(certs.IssuingCRLFile)}
	}
	return m, nil
}

// Ready reports the addresses the listeners are bound to.
type Ready func(listener string, addr net.Addr)

// Run starts wefgate and blocks until ctx is cancelled.
func Run(ctx context.Context, cfg *config.Config, logger *slog.Logger, ready Ready) error {
	var mat *TLSMaterial
	if *cfg.HTTPS.Enabled {
		var err error
		if mat, err = EnsureTLS(cfg, logger); err != nil {
			return err
		}
	}
	return RunWithTLS(ctx, cfg, mat, logger, ready, Options{})
}

// RunWithTLS is Run with the HTTPS listener's material already loaded by
// EnsureTLS (nil when https is off), so that a caller that needs it too
// (the GPO values wefgate run prints) loads it once; opts has the
// optional parts (configuration reloads).
func RunWithTLS(ctx context.Context, cfg *config.Config, mat *TLSMaterial, logger *slog.Logger, ready Ready, opts Options) error {
	// Every goroutine Run starts stops with this context, whichever way
	// Run returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	logger = logger.With("node", cfg.Node.Name)
	lv := &live{logger: logger, level: opts.Level, started: cfg, applied: cfg}
	lv.lastSuccess.Store(time.Now().UnixNano())
	store, err := subscriptions.OpenState(ctx, cfg.State, filepath.Join(cfg.DataDir, "state.db"), cfg.Node.Name)
	if err != nil {
		return err
	}
	logger.Info("state store open", "backend", cfg.State.Backend)
	defer store.Close()

	outs, err := openExporters(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range outs {
			if err := e.Close(context.WithoutCancel(ctx)); err != nil {
				logger.Warn("closing exporter", "exporter", e.Name(), "error", err)
			}
		}
	}()
	mapOpts := cfg.Exporters.Mapping
	mapFn := func(src pipeline.Source, ev *event.Event, extra []record.KV) record.Record {
		return mapping.Map(src, ev, extra, mapOpts)
	}
	var sink pipeline.Sink = &pipeline.DirectSink{Map: mapFn, Exporters: outs}
	var shipStats func() pipeline.ShipperStats
	var spoolStats func() spool.Stats
	var corrStats func() handles.Stats
	var spoolHealth func() error
	// The shipper outlives the listeners: on shutdown the server stops
	// taking batches first, then the shipper flushes what it holds.
	shipCtx, stopShipper := context.WithCancel(context.WithoutCancel(ctx))
	defer stopShipper()
	if *cfg.Spool.Enabled {
		// Each exporter reads the spool at its own position.
		consumers := make([]string, len(outs))
		for i, e := range outs {
			consumers[i] = e.Name()
		}
		opts := cfg.Spool.Options
		opts.Consumers = consumers
		sp, err := spool.Open(cfg.Spool.Dir, opts, logger)
		if err != nil {
			return err
		}
		defer sp.Close()
		spoolStats = sp.Stats
		var newStage func(string) pipeline.Stage
		if cfg.Handles.Enriched {
			// One correlator per exporter: each exporter's lane moves at its
			// own pace, so each needs its own state.
			// The metrics show the first exporter's: all see the same events.
			newStage = func(exporter string) pipeline.Stage {
				hs := handles.NewStage(cfg.Handles, logger.With("exporter", exporter))
				lv.addStage(hs)
				hs.MapSummary = func(r record.Record) record.Record { return mapping.MapSummary(r, mapOpts) }
				if corrStats == nil {
					corrStats = hs.Stats
				}
				return hs
			}
		}
		shipper, err := pipeline.NewShipper(sp, newStage, mapFn, outs, pipeline.ShipperOptions{}, logger)
		if err != nil {
			return err
		}
		shipStats = shipper.Stats
		spoolHealth = sp.Health
		shipped := make(chan error, 1)
		go func() { shipped <- shipper.Run(shipCtx) }()
		defer func() {
			stopShipper()
			if err := <-shipped; err != nil && !errors.Is(err, context.Canceled) {
				logger.Warn("shipper stopped", "error", err)
			}
		}()
		sink = pipeline.NewSpoolSink(sp)
		logger.Info("spooling to disk before export", "dir", cfg.Spool.Dir, "max_bytes", cfg.Spool.MaxBytes)
	}

	keep := handles.IsHandleEvent
	if cfg.Handles.Enriched {
		keep = func(ev *event.Event) bool { return handles.IsHandleEvent(ev) || handles.IsStateEvent(ev) }
	}
	defs := make([]*subscriptions.Definition, len(cfg.Subscriptions))
	for i := range cfg.Subscriptions {
		defs[i] = &cfg.Subscriptions[i]
	}
	srvCfg := &server.Config{
		Subscriptions: serverSubscriptions(defs),
		State:         stateAdapter{store},
		Sink:          sinkAdapter{sink},
		Keep:          keep,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		SLDC:          sldc.Decompress,
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
			Spool: spoolStats, Shipper: shipStats, Correlator: corrStats, Hosts: hostList,
			Subscriptions: names, Reloads: lv.reloadStats, Logger: logger,
		})
		observers = append(observers, met)
		lv.metrics = met
	}
	if cfg.AccessLog.Enabled {
		al, err := accesslog.Open(cfg.AccessLog, logger)
		if err != nil {
			return err
		}
		defer al.Close()
		observers = append(observers, al)
		lv.accessLog = al
	}
	switch len(observers) {
	case 0:
	case 1:
		srvCfg.Observer = observers[0]
	default:
		srvCfg.Observer = observers
	}
	var listeners []server.Listener
	if *cfg.HTTPS.Enabled {
		l, err := httpsListener(cfg, mat, srvCfg, stats, logger, lv)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	if *cfg.HTTP.Enabled {
		acc, err := kerberos.NewAcceptor(cfg.HTTP.Keytab, logger, kerberos.WithRefusalLog(refusalLogs))
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		sec := &server.KerberosSecurity{Acceptor: acc, Logger: logger, Logs: refusalLogs}
		h := server.NewHandler(srvCfg, "http", cfg.HTTPBaseURL(), sec, stats)
		lv.handlers = append(lv.handlers, h)
		listeners = append(listeners, server.Listener{Name: "http", Addr: cfg.HTTP.Address, Handler: h, Wrap: proxyWrap(cfg, logger, "http")})
	}
	// Each WS-Man listener gets its own connection caps and counters; the
	// refusal lines of every component share one rate limiter.
	ep := endpoint{stats: stats, budget: srvCfg.Budget, conns: map[string]*server.ConnStats{}, logs: refusalLogs}
	for i := range listeners {
		listeners[i].Limits, listeners[i].Logs = cfg.Limits, refusalLogs
		listeners[i].Conns = &server.ConnStats{}
		ep.conns[listeners[i].Name] = listeners[i].Conns
	}
	if !strings.Contains(cfg.Hostname, ".") {
		logger.Warn("hostname is not a fully qualified name; Windows hosts need the name of the GPO URL, which the server certificate and SPNs must carry: set hostname in the configuration",
			"hostname", cfg.Hostname)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		reportStats(ctx, logger, stats, func() map[string]any { return snapshot(ep, shipStats) })
	}()
	defer func() {
		cancel()
		<-statsDone
	}()
	if cfg.Admin.Address != "" {
		exporterNames := make([]string, len(outs))
		for i, e := range outs {
			exporterNames[i] = e.Name()
		}
		var h http.Handler = &admin.Handler{
			Store: store, Logger: logger, Metrics: met.Handler(),
			Heartbeats:    heartbeats,
			Subscriptions: names,
			Stats:         func() map[string]any { return snapshot(ep, shipStats) },
			Health:        func() admin.Health { return health(exporterNames, spoolStats, shipStats) },
			Healthz:       spoolHealth,
		}
		h, err := cfg.Admin.Protect(h)
		if err != nil {
			return err
		}
		tlsCfg, err := cfg.Admin.TLSConfig()
		if err != nil {
			return err
		}
		listeners = append(listeners, server.Listener{Name: "admin", Addr: cfg.Admin.Address, Handler: h, TLS: tlsCfg})
	}
	if opts.Reload != nil {
		reloadCtx, stopReloads := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lv.run(reloadCtx, opts.Reload)
		}()
		defer func() {
			stopReloads()
			<-done
		}()
	}
	return server.ListenAndServe(ctx, logger, listeners, ready)
}

// health is what the status page shows at the top.
func health(exporters []string, spoolStats func() spool.Stats, shipStats func() pipeline.ShipperStats) admin.Health {
	var h admin.Health
	for _, n := range exporters {
		h.Exporters = append(h.Exporters, admin.ExporterHealth{Name: n})
	}
	if spoolStats != nil {
		st := spoolStats()
		h.Spool = &admin.SpoolHealth{Bytes: st.BytesOnDisk, MaxBytes: st.MaxBytes, PendingDeliveries: st.PendingEntries}
	}
	if shipStats != nil {
		st := shipStats()
		h.ExportersFailing, h.ExportLag = st.FailingExporters, st.Lag.Round(time.Millisecond)
		for i, e := range st.Exporters {
			if i >= len(h.Exporters) {
				break
			}
			h.Exporters[i].State = "ok"
			h.Exporters[i].Lag, h.Exporters[i].Pending = e.Lag.Round(time.Millisecond), e.PendingEntries
			if e.Failing {
				h.Exporters[i].State, h.Exporters[i].Detail = "failing", e.LastError
			}
		}
	}
	return h
}

// statsInterval is how often the counters are logged.
const statsInterval = time.Minute

// endpoint is what the WS-Man endpoint counts: requests and events, the
// request-bytes budget, each listener's connections, and the refusal log
// lines held back.
type endpoint struct {
	stats  *server.Stats
	budget *server.Budget
	conns  map[string]*server.ConnStats
	logs   *ratelog.Limiter
}

// snapshot gathers the endpoint's and the shipper's counters.
func snapshot(ep endpoint, shipStats func() pipeline.ShipperStats) map[string]any {
	st, budget := ep.stats, ep.budget
	received, kept := st.EventsReceived.Load(), st.EventsKept.Load()
	m := map[string]any{
		"enumerates": st.Enumerates.Load(), "heartbeats": st.Heartbeats.Load(), "batches": st.Batches.Load(),
		"events_received": received, "events_kept": kept, "events_dropped": received - kept,
		"events_damaged": st.EventsDamage.Load(), "events_empty": st.EventsEmpty.Load(),
		"batches_over_limit": st.BatchesOverLimit.Load(), "refused": st.Refused.Load(), "failed": st.Failed.Load(),
	}
	if budget != nil {
		b := budget.Stats()
		m["budget_bytes"], m["budget_in_flight_bytes"], m["budget_peak_bytes"] = b.Size, b.InFlight, b.Peak
		m["budget_waiting"], m["budget_waited"], m["budget_refused"] = b.Waiting, b.Waited, b.Refused
	}
	for name, c := range ep.conns {
		m[name+"_connections_open"], m[name+"_connections_accepted"] = c.Open.Load(), c.Accepted.Load()
		m[name+"_accept_errors"] = c.AcceptErrors.Load()
		m[name+"_connections_refused_total_cap"] = c.RefusedTotal.Load()
		m[name+"_connections_refused_address_cap"] = c.RefusedPerAddress.Load()
	}
	m["log_lines_suppressed"] = ep.logs.Suppressed()
	if shipStats != nil {
		ss := shipStats()
		m["exported"], m["export_retries"], m["spool_pending"] = ss.ExportedRecords, ss.Retries, ss.PendingEntries
		m["export_lag_seconds"], m["failing_exporters"] = ss.Lag.Seconds(), ss.FailingExporters
		for _, e := range ss.Exporters {
			m["exporter_"+e.Name] = map[string]any{
				"committed": e.Committed, "pending": e.PendingEntries, "lag_seconds": e.Lag.Seconds(),
				"exported": e.ExportedRecords, "retries": e.Retries, "failing": e.Failing, "last_error": e.LastError,
			}
		}
	}
	return m
}

// reportStats logs the counters every minute while there is traffic, so
// dropped and damaged events are counted where operators look.
func reportStats(ctx context.Context, logger *slog.Logger, st *server.Stats, snap func() map[string]any) {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	var last [3]uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := [3]uint64{st.Batches.Load(), st.Heartbeats.Load(), st.Enumerates.Load()}
		if now == last {
			continue
		}
		last = now
		m := snap()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			attrs = append(attrs, k, m[k])
		}
		logger.Info("stats", attrs...)
	}
}

func httpsListener(cfg *config.Config, mat *TLSMaterial, srvCfg *server.Config, stats *server.Stats, logger *slog.Logger, lv *live) (server.Listener, error) {
	material, err := httpsTLSFrom(cfg, mat, logger, lv.refusals)
	if err != nil {
		return server.Listener{}, err
	}
	lv.https = &atomic.Pointer[httpsTLS]{}
	lv.https.Store(material)
	tlsCfg, identify := swappableTLS(lv.https)
	h := server.NewHandler(srvCfg, "https", cfg.HTTPSBaseURL(), server.TLSSecurity{Identify: identify, Logger: logger, Logs: lv.refusals}, stats)
	lv.handlers = append(lv.handlers, h)
	return server.Listener{Name: "https", Addr: cfg.HTTPS.Address, Handler: h, TLS: tlsCfg, Wrap: proxyWrap(cfg, logger, "https")}, nil
}

func openExporters(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]pipeline.Exporter, error) {
	var outs []pipeline.Exporter
	if *cfg.Exporters.File.Enabled {
		if err := os.MkdirAll(filepath.Dir(cfg.Exporters.File.Path), 0o750); err != nil {
			return nil, fmt.Errorf("file exporter: %w", err)
		}
		f, err := file.New(cfg.Exporters.File.Path, file.Options{})
		if err != nil {
			return nil, err
		}
		outs = append(outs, f)
		logger.Info("exporting to file", "path", cfg.Exporters.File.Path)
	}
	if *cfg.Exporters.OTLP.Enabled {
		o := cfg.Exporters.OTLP.Config
		// What the file does not set: the node and the schema decide them.
		o.ServiceInstanceID = cfg.Node.Name
		o.ScopeAttributes = cfg.Exporters.Mapping.Schema.ScopeAttributes()
		e, err := otlp.New(ctx, o, logger)
		if err != nil {
			for _, o := range outs {
				o.Close(context.WithoutCancel(ctx))
			}
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		outs = append(outs, e)
		logger.Info("exporting over OTLP", "protocol", o.Protocol, "endpoint", o.Endpoint)
	}
	return outs, nil
}

// GPOValues returns the "Configure target Subscription Manager" values for
// the running configuration, one per listener (and per issuing CA).
func GPOValues(cfg *config.Config, refresh int, issuerThumbprints []string) []string {
	var out []string
	path := "/wsman/SubscriptionManager/WEC"
	if *cfg.HTTP.Enabled {
		out = append(out, fmt.Sprintf("Server=%s%s,Refresh=%d", cfg.HTTPBaseURL(), path, refresh))
	}
	if *cfg.HTTPS.Enabled {
		for _, t := range issuerThumbprints {
			out = append(out, fmt.Sprintf("Server=%s%s,Refresh=%d,IssuerCA=%s", strings.Replace(cfg.HTTPSBaseURL(), "https://", "HTTPS://", 1), path, refresh, strings.ToUpper(t)))
		}
	}
	return out
}

// proxyWrap accepts PROXY headers from the trusted load balancers on a
// WS-Man listener, or is nil when proxy_protocol is off.
func proxyWrap(cfg *config.Config, logger *slog.Logger, listener string) func(net.Listener) (net.Listener, error) {
	if !cfg.ProxyProtocol.Enabled() {
		return nil
	}
	return func(ln net.Listener) (net.Listener, error) {
		logger.Info("accepting PROXY protocol headers", "listener", listener, "trusted_networks", cfg.ProxyProtocol.TrustedNetworks)
		return proxyheader.Wrap(ln, cfg.ProxyProtocol, logger.With("listener", listener))
	}
}
