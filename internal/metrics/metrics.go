// Package metrics publishes wefgate's Prometheus metrics
// (https://prometheus.io/docs/practices/naming/): counters of the WS-Man
// endpoint, observed per request, and gauges and counters read from the
// components' own Stats snapshots at scrape time, so the hot paths carry no
// Prometheus code. Labels are bounded: listener, action, status code,
// subscription name, exporter name, reason; never a host.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wefgate/handles"
	"wefgate/internal/admin"
	"wefgate/pipeline"
	"wefgate/spool"
	"wefgate/subscriptions"
	"wefgate/wef/server"
)

// Namespace prefixes every wefgate metric.
const Namespace = "wefgate"

// Sources are the snapshots read at scrape time. A nil function means the
// component is not running (spool off, plain mode) and its metrics are
// absent.
type Sources struct {
	Spool      func() spool.Stats
	Shipper    func() pipeline.ShipperStats
	Correlator func() handles.Stats
	// Hosts lists the hosts with their liveness (admin.Hosts).
	Hosts func(ctx context.Context) ([]admin.Host, error)
	// Subscriptions names the configured subscriptions, so that a
	// subscription without hosts still shows zeros.
	Subscriptions func() []string
	// State counts the state store's grouped commits.
	State func() subscriptions.GroupStats
	// Reloads counts configuration reloads; nil when reloads are off.
	Reloads func() ReloadStats
	// Limits is what the endpoint's limits did: the request-bytes budget,
	// each listener's connections, batches over their subscription's
	// limits, empty events, refusal log lines held back.
	Limits func() LimitStats
	Logger *slog.Logger
}

// ReloadStats counts configuration reloads.
type ReloadStats struct {
	Applied, Refused uint64
	// LastSuccessful is false when the last reload was refused;
	// LastSuccess is when the running configuration was last applied
	// (start or reload).
	LastSuccessful bool
	LastSuccess    time.Time
}

// Metrics is wefgate's registry. It implements server.Observer.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	bytesIn       *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	authRefusals  *prometheus.CounterVec
	eventsRecv    *prometheus.CounterVec
	eventsKept    *prometheus.CounterVec
	eventsDropped *prometheus.CounterVec
	eventsDamaged *prometheus.CounterVec
}

// New returns the registry with the Go runtime and process collectors, the
// request counters and a collector over src.
func New(src Sources) *Metrics {
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "requests_total",
		Help: "WS-Management requests answered, by listener, action and HTTP status code.",
	}, []string{"listener", "action", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "request_duration_seconds",
		Help:    "Time from a WS-Management request's headers to its answer, by listener and action.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"listener", "action"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "request_body_received_bytes_total",
		Help: "Request body bytes as received (encrypted, compressed), by listener.",
	}, []string{"listener"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "response_body_sent_bytes_total",
		Help: "Response body bytes sent, by listener.",
	}, []string{"listener"})
	m.authRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "auth_refusals_total",
		Help: "Requests refused by authentication or host authorization, by listener and reason.",
	}, []string{"listener", "reason"})
	ev := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, []string{"subscription"})
	}
	m.eventsRecv = ev("events_received_total", "Events received in Events batches, by subscription.")
	m.eventsKept = ev("events_kept_total", "Events handed to the pipeline (accepted batches), by subscription.")
	m.eventsDropped = ev("events_dropped_total", "Events received but not kept (not handle events, or in a refused batch), by subscription.")
	m.eventsDamaged = ev("events_damaged_total", "Events whose XML was damaged (kept with wef.parse_problem when their id was unreadable), by subscription.")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.authRefusals,
		m.eventsRecv, m.eventsKept, m.eventsDropped, m.eventsDamaged,
		&snapshotCollector{src: src},
	)
	if src.Subscriptions != nil {
		for _, name := range src.Subscriptions() {
			m.AddSubscription(name)
		}
	}
	return m
}

// AddSubscription makes the per-subscription counters of name exist at
// zero, so that rates work from the first batch on.
func (m *Metrics) AddSubscription(name string) {
	for _, c := range []*prometheus.CounterVec{m.eventsRecv, m.eventsKept, m.eventsDropped, m.eventsDamaged} {
		c.WithLabelValues(name)
	}
}

// Registry is where wefgate's metrics live.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest implements server.Observer.
func (m *Metrics) ObserveRequest(ri *server.RequestInfo) {
	m.requests.WithLabelValues(ri.Listener, ri.Action, strconv.Itoa(ri.Status)).Inc()
	m.duration.WithLabelValues(ri.Listener, ri.Action).Observe(ri.Duration.Seconds())
	m.bytesIn.WithLabelValues(ri.Listener).Add(float64(ri.BytesIn))
	m.bytesOut.WithLabelValues(ri.Listener).Add(float64(ri.BytesOut))
	if ri.AuthRefusal != "" {
		m.authRefusals.WithLabelValues(ri.Listener, ri.AuthRefusal).Inc()
	}
	if ri.Action == server.ActionEvents && ri.Subscription != "" {
		m.eventsRecv.WithLabelValues(ri.Subscription).Add(float64(ri.EventsReceived))
		m.eventsKept.WithLabelValues(ri.Subscription).Add(float64(ri.EventsKept))
		m.eventsDropped.WithLabelValues(ri.Subscription).Add(float64(ri.EventsReceived - ri.EventsKept))
		m.eventsDamaged.WithLabelValues(ri.Subscription).Add(float64(ri.EventsDamaged))
	}
}

var _ server.Observer = (*Metrics)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descHosts = desc("hosts", "Hosts known to the state store, by subscription and liveness (active: events within the heartbeat interval; alive: heartbeats only; dead: silent).", "subscription", "state")

	descSpoolBytes    = desc("spool_bytes", "Size of the spool's segment files.")
	descSpoolMax      = desc("spool_max_bytes", "The spool's size limit; at it hosts get HTTP 503.")
	descSpoolSegments = desc("spool_segments", "Segment files in the spool.")
	descSpoolPending  = desc("spool_pending_deliveries", "Deliveries (accepted batches) in the spool not yet confirmed by the exporters.")
	descSpoolAppends  = desc("spool_appends_total", "Deliveries appended to the spool.")
	descSpoolFsyncs   = desc("spool_fsyncs_total", "Spool fsyncs (group commit makes them fewer than appends).")
	descSpoolCorrupt  = desc("spool_corrupt_entries_total", "Spool entries skipped because their frame failed verification.")
	descSpoolFailing  = desc("spool_write_failing", "1 while writes to the spool fail (disk full, I/O error) and hosts get HTTP 503, else 0.")
	descSpoolRecover  = desc("spool_write_recoveries_total", "Times spool writes resumed after a failure.")
	descStateCommits  = desc("state_commits_total", "Bookmark and host-contact writes stored in the state store (one per batch or heartbeat).")
	descStateGroups   = desc("state_commit_groups_total", "State store transactions those writes were grouped into.")
	descStateFailures = desc("state_commit_failures_total", "State store writes that failed (the host was told to retry).")
	descSpoolCommits  = desc("spool_commit_syncs_total", "Durable writes of the exporters' spool positions.")

	descExported    = desc("export_records_total", "Records confirmed by every exporter.")
	descRetries     = desc("export_retries_total", "Failed export attempts that were retried.")
	descUndecodable = desc("export_undecodable_entries_total", "Spool entries skipped by the shipper as undecodable.")
	descLag         = desc("export_lag_seconds", "How long ago the oldest delivery not yet exported was received.")
	descFailing     = desc("exporters_failing", "Exporters in an outage now.")

	descExpRecords = desc("exporter_exported_records_total", "Records this exporter confirmed.", "exporter")
	descExpRetries = desc("exporter_retries_total", "Failed export attempts of this exporter; each is retried with backoff, no record is given up.", "exporter")
	descExpFailing = desc("exporter_failing", "1 while this exporter is in an outage, else 0.", "exporter")
	descExpOutage  = desc("exporter_outage_seconds", "How long this exporter's current outage has lasted (0 when it is up).", "exporter")
	descExpLag     = desc("exporter_lag_seconds", "How long ago the oldest delivery this exporter has not confirmed was received: which exporter is behind.", "exporter")
	descExpPending = desc("exporter_pending_deliveries", "Deliveries in the spool this exporter has not confirmed.", "exporter")

	descReloads     = desc("config_reloads_total", "Configuration reloads (SIGHUP), by result: applied or refused (the running configuration stayed).", "result")
	descReloadOK    = desc("config_last_reload_successful", "1 unless the last configuration reload was refused.")
	descReloadStamp = desc("config_last_reload_success_timestamp_seconds", "When the running configuration was applied (start or last successful reload), Unix time.")

	descCorrSize     = desc("correlator_entries", "Current sizes of the handle correlator's state, by kind.", "kind")
	descCorrEvicted  = desc("correlator_evictions_total", "Correlator state dropped, by kind (handle, process) and cause (limit, age).", "kind", "cause")
	descCorrReleased = desc("correlator_released_early_total", "Events released from the reorder window early, because max_pending was reached.")
	descCorrExpired  = desc("correlator_wait_expired_total", "Events released while still waiting for a partner.")
	descCorrOutcome  = desc("correlator_events_total", "Released 4658, 4660 and 4690 events, by enrichment status.", "status")
	descCorrNoise    = desc("correlator_noise_dropped_total", "Audit by-product events not exported (handles.noise.mode: drop).")
	descCorrLate     = desc("correlator_late_waits_total", "Events held past the reorder window for an open logged late, by outcome when released (matched, expired).", "outcome")
	descCorrLateWait = desc("correlator_late_wait_seconds_total", "Time events were held past the reorder window for an open logged late.")
)

// LimitStats is a snapshot of what the limits on hosts and clients did
// (README "Limits on what hosts and clients may send").
type LimitStats struct {
	Budget server.BudgetStats
	// Connections are per listener name.
	Connections map[string]ConnectionStats
	// EventsEmpty counts empty or content-free w:Event elements dropped,
	// BatchesOverLimit batches refused for MaxEnvelopeSize or MaxItems.
	EventsEmpty, BatchesOverLimit uint64
	// LogLinesSuppressed counts refusal lines held back by rate limiting.
	LogLinesSuppressed uint64
}

// ConnectionStats is one listener's connection counters.
type ConnectionStats struct {
	Open                                            int64
	Accepted, AcceptErrors, RefusedCap, RefusedAddr uint64
	// HandshakeWaits counts the times the listener stopped accepting at
	// limits.max_handshakes.
	HandshakeWaits uint64
}

var (
	descBudget         = desc("request_budget_bytes", "The budget of request bytes in memory at once (limits.decompressed_bytes).")
	descBudgetInFlight = desc("request_budget_in_flight_bytes", "Request bytes reserved now.")
	descBudgetWaiting  = desc("request_budget_waiting_requests", "Requests waiting for room in the budget now.")
	descBudgetWaits    = desc("request_budget_waits_total", "Requests that had to wait for room in the budget.")
	descBudgetRefused  = desc("request_budget_refusals_total", "Requests refused with 503 after waiting limits.budget_wait for room.")
	descConnsOpen      = desc("connections_open", "Open connections of a WS-Man listener.", "listener")
	descConnsAccepted  = desc("connections_accepted_total", "Connections admitted by a WS-Man listener.", "listener")
	descAcceptErrors   = desc("connection_accept_errors_total", "Failed accepts (out of descriptors, for example).", "listener")
	descConnsRefused   = desc("connections_refused_total", "Connections closed at once because a cap was reached, by cap: listener (limits.max_connections) or address (limits.max_connections_per_address).", "listener", "cap")
	descHandshakeWaits = desc("connection_handshake_waits_total", "Times a WS-Man listener stopped accepting because limits.max_handshakes connections had not authenticated yet (new ones wait in the accept queue).", "listener")
	descEventsEmpty    = desc("events_empty_total", "Empty or content-free w:Event elements, counted and never exported.")
	descOverLimit      = desc("batches_over_limit_total", "Batches refused with a wsman:EncodingLimit fault (MaxEnvelopeSize, MaxItems, SLDC output).")
	descLogSuppressed  = desc("log_lines_suppressed_total", "Refusal log lines held back by limits.refusal_log_interval (reported as suppressed=N on the next line).")
)

// snapshotCollector reads the components' Stats at scrape time.
type snapshotCollector struct{ src Sources }

// Describe implements prometheus.Collector. The metrics present depend on
// the configuration, so the collector is unchecked.
func (c *snapshotCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if c.src.Hosts != nil {
		c.collectHosts(gauge)
	}
	if c.src.Reloads != nil {
		st := c.src.Reloads()
		counter(descReloads, float64(st.Applied), "applied")
		counter(descReloads, float64(st.Refused), "refused")
		ok := 0.0
		if st.LastSuccessful {
			ok = 1
		}
		gauge(descReloadOK, ok)
		gauge(descReloadStamp, float64(st.LastSuccess.UnixNano())/1e9)
	}
	if c.src.Limits != nil {
		st := c.src.Limits()
		gauge(descBudget, float64(st.Budget.Size))
		gauge(descBudgetInFlight, float64(st.Budget.InFlight))
		gauge(descBudgetWaiting, float64(st.Budget.Waiting))
		counter(descBudgetWaits, float64(st.Budget.Waited))
		counter(descBudgetRefused, float64(st.Budget.Refused))
		for name, cs := range st.Connections {
			gauge(descConnsOpen, float64(cs.Open), name)
			counter(descConnsAccepted, float64(cs.Accepted), name)
			counter(descAcceptErrors, float64(cs.AcceptErrors), name)
			counter(descConnsRefused, float64(cs.RefusedCap), name, "listener")
			counter(descConnsRefused, float64(cs.RefusedAddr), name, "address")
			counter(descHandshakeWaits, float64(cs.HandshakeWaits), name)
		}
		counter(descEventsEmpty, float64(st.EventsEmpty))
		counter(descOverLimit, float64(st.BatchesOverLimit))
		counter(descLogSuppressed, float64(st.LogLinesSuppressed))
	}
	if c.src.State != nil {
		st := c.src.State()
		counter(descStateCommits, float64(st.Commits))
		counter(descStateGroups, float64(st.Groups))
		counter(descStateFailures, float64(st.Failures))
	}
	if c.src.Spool != nil {
		st := c.src.Spool()
		gauge(descSpoolBytes, float64(st.BytesOnDisk))
		gauge(descSpoolMax, float64(st.MaxBytes))
		gauge(descSpoolSegments, float64(st.Segments))
		gauge(descSpoolPending, float64(st.PendingEntries))
		counter(descSpoolAppends, float64(st.Appends))
		counter(descSpoolFsyncs, float64(st.Fsyncs))
		counter(descSpoolCorrupt, float64(st.CorruptEntries))
		failing := 0.0
		if st.WriteError != "" {
			failing = 1
		}
		gauge(descSpoolFailing, failing)
		counter(descSpoolRecover, float64(st.Recoveries))
		counter(descSpoolCommits, float64(st.CommitSyncs))
	}
	if c.src.Shipper != nil {
		st := c.src.Shipper()
		counter(descExported, float64(st.ExportedRecords))
		counter(descRetries, float64(st.Retries))
		counter(descUndecodable, float64(st.UndecodableEntries))
		gauge(descLag, st.Lag.Seconds())
		gauge(descFailing, float64(st.FailingExporters))
		for _, e := range st.Exporters {
			counter(descExpRecords, float64(e.ExportedRecords), e.Name)
			counter(descExpRetries, float64(e.Retries), e.Name)
			failing, outage := 0.0, 0.0
			if e.Failing {
				failing = 1
				if !e.FailingSince.IsZero() {
					outage = time.Since(e.FailingSince).Seconds()
				}
			}
			gauge(descExpFailing, failing, e.Name)
			gauge(descExpOutage, outage, e.Name)
			gauge(descExpLag, e.Lag.Seconds(), e.Name)
			gauge(descExpPending, float64(e.PendingEntries), e.Name)
		}
	}
	if c.src.Correlator != nil {
		st := c.src.Correlator()
		for _, s := range []struct {
			kind string
			n    int
		}{{"handles", st.Handles}, {"duplicates", st.Duplicates}, {"processes", st.Processes}, {"pending", st.Pending}, {"waiting", st.Waiting}, {"late_waiting", st.LateWaiting}, {"hosts", st.Hosts}} {
			gauge(descCorrSize, float64(s.n), s.kind)
		}
		counter(descCorrEvicted, float64(st.HandlesEvicted), "handle", "limit")
		counter(descCorrEvicted, float64(st.HandlesExpired), "handle", "age")
		counter(descCorrEvicted, float64(st.ProcessesEvicted), "process", "limit")
		counter(descCorrEvicted, float64(st.ProcessesExpired), "process", "age")
		counter(descCorrReleased, float64(st.PendingForced))
		counter(descCorrExpired, float64(st.PendingExpired))
		counter(descCorrOutcome, float64(st.Matched), handles.StatusMatched)
		counter(descCorrOutcome, float64(st.Partial), handles.StatusPartial)
		counter(descCorrOutcome, float64(st.Unmatched), handles.StatusUnmatched)
		counter(descCorrNoise, float64(st.NoiseDropped))
		counter(descCorrLate, float64(st.LateMatched), "matched")
		counter(descCorrLate, float64(st.LateExpired), "expired")
		counter(descCorrLateWait, st.LateWait.Seconds())
	}
}

// hostsTimeout bounds the state-store read of one scrape.
const hostsTimeout = 10 * time.Second

func (c *snapshotCollector) collectHosts(gauge func(*prometheus.Desc, float64, ...string)) {
	ctx, cancel := context.WithTimeout(context.Background(), hostsTimeout)
	defer cancel()
	hosts, err := c.src.Hosts(ctx)
	if err != nil {
		// Leaving the series out makes the gap visible to alerting rules
		// (absent()) without failing the whole scrape.
		c.src.Logger.Warn("metrics: list hosts", "error", err)
		return
	}
	type key struct{ sub, state string }
	counts := map[key]int{}
	if c.src.Subscriptions != nil {
		for _, name := range c.src.Subscriptions() {
			for _, s := range []string{subscriptions.Active, subscriptions.Alive, subscriptions.Dead} {
				counts[key{name, s}] = 0
			}
		}
	}
	for _, h := range hosts {
		counts[key{h.Subscription, h.State}]++
	}
	for k, n := range counts {
		gauge(descHosts, float64(n), k.sub, k.state)
	}
}
