package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wefgate/certs"
	"wefgate/config"
	"wefgate/handles"
	"wefgate/internal/accesslog"
	"wefgate/internal/metrics"
	"wefgate/internal/ratelog"
	"wefgate/subscriptions"
	"wefgate/wef/server"
	"wefgate/wef/soap"
)

// Options are the optional parts of a running gateway.
type Options struct {
	// Reload delivers configurations to apply while running (SIGHUP,
	// 'wefgate reload'). Each one is applied whole or refused whole.
	Reload <-chan Reload
	// Level is the service log's level; a reload sets it from log.level.
	Level *slog.LevelVar
}

// Reload is one reload request: the configuration read again, or why it
// could not be read or validated.
type Reload struct {
	Config *config.Config
	Err    error
}

// reloadable are the configuration keys (YAML paths, a key covering
// everything below it) that a reload applies without closing connections.
// Everything else needs a restart, and a reload that changes it says so.
var reloadable = []string{
	"subscriptions",
	"log.level",
	"https.ca_files", "https.crl_files", "https.server_cert", "https.server_key",
	"handles.noise.mode", "handles.noise.rules", "handles.noise.summary_interval",
}

func isReloadable(path string) bool {
	for _, r := range reloadable {
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// definitions points at the subscriptions of cfg.
func definitions(cfg *config.Config) []*subscriptions.Definition {
	defs := make([]*subscriptions.Definition, len(cfg.Subscriptions))
	for i := range cfg.Subscriptions {
		defs[i] = &cfg.Subscriptions[i]
	}
	return defs
}

// subscriptionView is what the admin listener and the metrics show of the
// subscriptions; replaced whole on reload.
type subscriptionView struct {
	names      []string
	heartbeats map[string]time.Duration
}

func newSubscriptionView(defs []*subscriptions.Definition) *subscriptionView {
	v := &subscriptionView{heartbeats: make(map[string]time.Duration, len(defs))}
	for _, d := range defs {
		v.names = append(v.names, d.Name)
		v.heartbeats[d.ID] = d.HeartbeatInterval
	}
	return v
}

// httpsTLS is the HTTPS listener's certificate material: the CA and CRL
// files behind the verifier and the server certificate. A reload builds a
// new one and swaps it in; connections keep their TLS session, and their
// next request is checked against the new CAs and CRLs.
type httpsTLS struct {
	verifier *certs.Verifier
	config   *tls.Config
}

func newHTTPSTLS(cfg *config.Config, logger *slog.Logger, refusals *ratelog.Limiter) (*httpsTLS, error) {
	mat, err := EnsureTLS(cfg, logger)
	if err != nil {
		return nil, err
	}
	return httpsTLSFrom(cfg, mat, logger, refusals)
}

// httpsTLSFrom builds the material from what EnsureTLS returned.
func httpsTLSFrom(cfg *config.Config, mat *TLSMaterial, logger *slog.Logger, refusals *ratelog.Limiter) (*httpsTLS, error) {
	crls := mat.CRLFiles
	if len(cfg.HTTPS.CRLFiles) > 0 {
		crls = cfg.HTTPS.CRLFiles
	}
	verifier, err := certs.NewVerifier(certs.VerifierConfig{CAFiles: mat.CAFiles, CRLFiles: crls, CipherSuites: cfg.HTTPS.CipherSuites, RefusalLog: refusals}, logger)
	if err != nil {
		return nil, fmt.Errorf("https: %w", err)
	}
	tlsCfg, err := verifier.ServerTLSConfig(mat.ServerCert, mat.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("https: %w", err)
	}
	return &httpsTLS{verifier: verifier, config: tlsCfg}, nil
}

// swappableTLS returns the listener's tls.Config, which hands every new
// connection to the current material, and the identify function of the
// current verifier.
func swappableTLS(cur *atomic.Pointer[httpsTLS]) (*tls.Config, server.TLSIdentify) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return cur.Load().config.GetConfigForClient(hello)
		},
	}
	identify := func(cs *tls.ConnectionState) (string, string, error) {
		id, err := cur.Load().verifier.Identify(cs)
		return id.Name, id.IssuerThumbprint, err
	}
	return cfg, identify
}

// live holds what a reload replaces in the running gateway.
type live struct {
	logger *slog.Logger
	// refusals rate-limits the refusal lines of every component.
	refusals *ratelog.Limiter
	level    *slog.LevelVar
	// started is the configuration the gateway started with: what needs a
	// restart is compared with it. applied is the last one applied.
	started, applied *config.Config
	handlers         []*server.Handler
	https            *atomic.Pointer[httpsTLS] // nil without the HTTPS listener
	// stages are the correlators (one per exporter in enriched mode); the
	// shipper creates them, so they are added under mu.
	mu        sync.Mutex
	stages    []*handles.Stage
	view      atomic.Pointer[subscriptionView]
	accessLog *accesslog.Log
	metrics   *metrics.Metrics

	reloadsApplied, reloadsRefused atomic.Uint64
	lastFailed                     atomic.Bool
	lastSuccess                    atomic.Int64 // Unix ns of the start or the last applied reload
}

// run applies the reloads until ctx is done.
func (l *live) run(ctx context.Context, reloads <-chan Reload) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-reloads:
			err := r.Err
			if err == nil {
				err = l.apply(r.Config)
			}
			if err != nil {
				l.reloadsRefused.Add(1)
				l.lastFailed.Store(true)
				l.logger.Error("configuration reload refused; the running configuration stays", "error", err)
				continue
			}
			l.reloadsApplied.Add(1)
			l.lastFailed.Store(false)
			l.lastSuccess.Store(time.Now().UnixNano())
		}
	}
}

func (l *live) reloadStats() metrics.ReloadStats {
	return metrics.ReloadStats{
		Applied: l.reloadsApplied.Load(), Refused: l.reloadsRefused.Load(),
		LastSuccessful: !l.lastFailed.Load(), LastSuccess: time.Unix(0, l.lastSuccess.Load()),
	}
}

func (l *live) addStage(s *handles.Stage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stages = append(l.stages, s)
}

// apply makes next the running configuration as far as it can be without
// a restart. Everything is prepared first (files read, certificates
// parsed); if any of it fails nothing changes and the error says why.
func (l *live) apply(next *config.Config) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(next.Log.Level)); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	var tlsNext *httpsTLS
	if l.https != nil {
		var err error
		if tlsNext, err = newHTTPSTLS(next, l.logger, l.refusals); err != nil {
			return err
		}
	}
	defs := definitions(next)
	subs := serverSubscriptions(defs)
	noise := next.Handles.Noise

	changed := configDiff(l.applied, next)
	var applied []string
	for _, p := range changed {
		if isReloadable(p) {
			applied = append(applied, p)
		}
	}
	var restart []string
	for _, p := range configDiff(l.started, next) {
		if !isReloadable(p) {
			restart = append(restart, p)
		}
	}

	// Commit: every step below only swaps pointers.
	for _, h := range l.handlers {
		h.SetSubscriptions(subs)
	}
	if tlsNext != nil {
		l.https.Store(tlsNext)
	}
	l.mu.Lock()
	for _, st := range l.stages {
		st.SetNoise(noise)
	}
	l.mu.Unlock()
	if l.level != nil {
		l.level.Set(level)
	}
	l.view.Store(newSubscriptionView(defs))
	if l.metrics != nil {
		for _, d := range defs {
			l.metrics.AddSubscription(d.Name)
		}
	}
	if l.accessLog != nil {
		if err := l.accessLog.Reopen(); err != nil {
			l.logger.Warn("configuration reload: access log", "error", err)
		}
	}
	l.logSubscriptionChanges(l.applied, next)
	l.applied = next
	attrs := []any{"changed", applied}
	if len(restart) > 0 {
		attrs = append(attrs, "restart_required", restart)
		l.logger.Warn("configuration reloaded; some changes need a restart to take effect", attrs...)
	} else {
		l.logger.Info("configuration reloaded", attrs...)
	}
	return nil
}

// logSubscriptionChanges names the subscriptions added, removed, and those
// whose version changed (their hosts re-subscribe); the others keep their
// version and their hosts notice nothing.
func (l *live) logSubscriptionChanges(prev, next *config.Config) {
	versions := func(c *config.Config) map[string]string {
		m := map[string]string{}
		for i := range c.Subscriptions {
			d := &c.Subscriptions[i]
			// The listener's address is restart-only, so any fixed one
			// compares versions.
			m[d.Name] = d.Offer(c.HTTPSBaseURL(), soap.Auth{}, "").Version
		}
		return m
	}
	before, after := versions(prev), versions(next)
	// Host filters are not part of the version (hosts do not see them), so
	// a change of them is named apart: the admin who denied a host reads
	// which subscription now refuses it.
	filters := func(c *config.Config) map[string][2][]string {
		m := map[string][2][]string{}
		for i := range c.Subscriptions {
			d := &c.Subscriptions[i]
			m[d.Name] = [2][]string{d.AllowedHosts, d.DeniedHosts}
		}
		return m
	}
	filtersBefore, filtersAfter := filters(prev), filters(next)
	for name, v := range after {
		old, ok := before[name]
		switch {
		case !ok:
			l.logger.Info("configuration reload: subscription added", "subscription", name, "version", v)
		case old != v:
			l.logger.Info("configuration reload: subscription changed; its hosts re-subscribe", "subscription", name, "old_version", old, "version", v)
		}
		if f, was := filtersBefore[name]; ok && was && !reflect.DeepEqual(f, filtersAfter[name]) {
			l.logger.Info("configuration reload: subscription host filters changed",
				"subscription", name, "allowed_hosts", filtersAfter[name][0], "denied_hosts", filtersAfter[name][1])
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			l.logger.Info("configuration reload: subscription removed; its hosts get 404 on delivery", "subscription", name)
		}
	}
}

// configDiff lists the YAML paths (https.address, handles.noise.rules) at
// which two configurations differ. Slices and maps are compared whole.
func configDiff(a, b *config.Config) []string {
	var out []string
	diffValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "", &out)
	slices.Sort(out)
	return out
}

func diffValue(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		diffValue(a.Elem(), b.Elem(), path, out)
	case reflect.Struct:
		t := a.Type()
		if t == reflect.TypeFor[time.Time]() {
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				*out = append(*out, path)
			}
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			sub := path
			if !strings.Contains(opts, "inline") && !f.Anonymous {
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				if sub != "" {
					sub += "."
				}
				sub += name
			}
			diffValue(a.Field(i), b.Field(i), sub, out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}
