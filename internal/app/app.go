// Package app assembles a running wefgate from its configuration, in
// named steps (gateway.go): open state, build exporters, build sink and
// shipper, build listeners, start the stats loop. Each step pushes what it
// must undo on one closer stack, unwound in reverse on every return. The
// wefgate binary and the end-to-end tests both start it through Run.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"wefgate/certs"
	"wefgate/config"
	"wefgate/exporters/file"
	"wefgate/exporters/otlp"
	"wefgate/internal/admin"
	"wefgate/internal/metrics"
	"wefgate/internal/proxyheader"
	"wefgate/internal/ratelog"
	"wefgate/pipeline"
	"wefgate/spool"
	"wefgate/subscriptions"
	"wefgate/wef/server"
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

// health is what the status page shows at the top.
func health(exporters []string, spoolStats func() spool.Stats, shipStats func() pipeline.ShipperStats) admin.Health {
	var h admin.Health
	for _, n := range exporters {
		h.Exporters = append(h.Exporters, admin.ExporterHealth{Name: n})
	}
	if spoolStats != nil {
		st := spoolStats()
		h.Spool = &admin.SpoolHealth{Bytes: st.BytesOnDisk, MaxBytes: st.MaxBytes, PendingDeliveries: st.PendingEntries,
			WriteError: st.WriteError}
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
	state  func() subscriptions.GroupStats
}

// limitStats is what the limits did, for the metrics.
func (ep endpoint) limitStats() metrics.LimitStats {
	st := metrics.LimitStats{Connections: make(map[string]metrics.ConnectionStats, len(ep.conns)), LogLinesSuppressed: ep.logs.Suppressed()}
	if ep.budget != nil {
		st.Budget = ep.budget.Stats()
	}
	if ep.stats != nil {
		st.EventsEmpty, st.BatchesOverLimit = ep.stats.EventsEmpty.Load(), ep.stats.BatchesOverLimit.Load()
	}
	for name, c := range ep.conns {
		st.Connections[name] = metrics.ConnectionStats{Open: c.Open.Load(), Accepted: c.Accepted.Load(), AcceptErrors: c.AcceptErrors.Load(),
			RefusedCap: c.RefusedTotal.Load(), RefusedAddr: c.RefusedPerAddress.Load(), HandshakeWaits: c.HandshakeWaits.Load()}
	}
	return st
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
		m[name+"_handshake_waits"] = c.HandshakeWaits.Load()
	}
	m["log_lines_suppressed"] = ep.logs.Suppressed()
	if ep.state != nil {
		s := ep.state()
		m["state_commits"], m["state_commit_groups"], m["state_commit_failures"] = s.Commits, s.Groups, s.Failures
	}
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
	return server.Listener{Name: "https", Addr: cfg.HTTPS.Address, Handler: h, TLS: tlsCfg, Wrap: proxyWrap(cfg, logger, lv.refusals, "https")}, nil
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
		protocol, endpoint, secure := e.Endpoint()
		logger.Info("exporting over OTLP", "protocol", protocol, "endpoint", endpoint, "tls", secure)
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
func proxyWrap(cfg *config.Config, logger *slog.Logger, refusals *ratelog.Limiter, listener string) func(net.Listener) (net.Listener, error) {
	if !cfg.ProxyProtocol.Enabled() {
		return nil
	}
	return func(ln net.Listener) (net.Listener, error) {
		logger.Info("accepting PROXY protocol headers", "listener", listener, "trusted_networks", cfg.ProxyProtocol.TrustedNetworks)
		return proxyheader.Wrap(ln, cfg.ProxyProtocol, logger.With("listener", listener), proxyheader.WithRefusalLog(refusals))
	}
}
