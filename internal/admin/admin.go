// Package admin serves wefgate's read-only status endpoint: health, the
// hosts known to the state store with their liveness, and the counters.
// 'wefgate hosts' is its client.
package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"wefgate/subscriptions"
)

// Host is one host on one subscription, as /hosts returns it.
type Host struct {
	subscriptions.HostState
	State string `json:"state"`
}

// Handler serves the status page (/), /metrics, /healthz, /hosts and
// /stats.
type Handler struct {
	Store subscriptions.Store
	// Heartbeats returns the heartbeat interval of each subscription id
	// (it changes on reload).
	Heartbeats func() map[string]time.Duration
	// Subscriptions names the configured subscriptions, so that one without
	// hosts still shows on the page.
	Subscriptions func() []string
	// Stats returns the counters to publish.
	Stats func() map[string]any
	// Health returns the spool and exporter state for the page.
	Health func() Health
	// Healthz, when set, returns an error while wefgate cannot take
	// batches (the spool cannot write); /healthz then answers 503 with it.
	Healthz func() error
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	Logger  *slog.Logger
	Now     func() time.Time
}

func (h *Handler) heartbeats() map[string]time.Duration {
	if h.Heartbeats == nil {
		return nil
	}
	return h.Heartbeats()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET only", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/":
		h.servePage(w, r)
	case "/metrics":
		if h.Metrics == nil {
			http.NotFound(w, r)
			return
		}
		h.Metrics.ServeHTTP(w, r)
	case "/healthz":
		if h.Healthz != nil {
			if err := h.Healthz(); err != nil {
				http.Error(w, "failing: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	case "/stats":
		writeJSON(w, h.Stats())
	case "/hosts":
		hosts, err := Hosts(r.Context(), h.Store, h.heartbeats(), h.now(), r.URL.Query().Get("state"))
		if err != nil {
			h.Logger.Warn("admin: list hosts", "error", err)
			http.Error(w, "state store unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, hosts)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Hosts lists the host states with their liveness, sorted by identity and
// subscription; a non-empty state (active, alive, dead) filters.
func Hosts(ctx context.Context, store subscriptions.Store, heartbeats map[string]time.Duration, now time.Time, want string) ([]Host, error) {
	states, err := store.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Host, 0, len(states))
	for _, st := range states {
		hb, ok := heartbeats[strings.ToUpper(st.SubscriptionID)]
		if !ok {
			hb = time.Hour
		}
		h := Host{HostState: st, State: subscriptions.Liveness(st, hb, now)}
		if want == "" || want == h.State {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Identity != out[j].Identity {
			return out[i].Identity < out[j].Identity
		}
		return out[i].Subscription < out[j].Subscription
	})
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
