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

// Handler serves /healthz, /hosts and /stats.
type Handler struct {
	Store subscriptions.Store
	// Heartbeats maps subscription ids to their heartbeat intervals.
	Heartbeats map[string]time.Duration
	// Stats returns the counters to publish.
	Stats  func() map[string]any
	Logger *slog.Logger
	Now    func() time.Time
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		w.Write([]byte("ok\n"))
	case "/stats":
		writeJSON(w, h.Stats())
	case "/hosts":
		hosts, err := Hosts(r.Context(), h.Store, h.Heartbeats, h.now(), r.URL.Query().Get("state"))
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
