package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/subscriptions"
)

func TestHostsAndStats(t *testing.T) {
	store, err := subscriptions.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	sub := "28FCC206-1336-4E4A-B76B-18B0AB46E585"
	ctx := context.Background()
	contacts := []subscriptions.Contact{
		{Identity: "busy.example.test", SubscriptionID: sub, At: now.Add(-time.Minute), Events: 5},
		{Identity: "quiet.example.test", SubscriptionID: sub, At: now.Add(-10 * time.Minute), Heartbeat: true},
		{Identity: "gone.example.test", SubscriptionID: sub, At: now.Add(-5 * time.Hour), Events: 1},
	}
	for _, c := range contacts {
		if err := store.CommitBatch(ctx, "", c); err != nil {
			t.Fatal(err)
		}
	}
	h := &Handler{Store: store, Heartbeats: func() map[string]time.Duration { return map[string]time.Duration{sub: time.Hour} },
		Stats: func() map[string]any { return map[string]any{"batches": 3} }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return now }}

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	var hosts []Host
	if err := json.Unmarshal(get("/hosts").Body.Bytes(), &hosts); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"busy.example.test": subscriptions.Active, "quiet.example.test": subscriptions.Alive, "gone.example.test": subscriptions.Dead}
	if len(hosts) != 3 {
		t.Fatalf("%d hosts", len(hosts))
	}
	for _, h := range hosts {
		if want[h.Identity] != h.State {
			t.Errorf("%s: state %s, want %s", h.Identity, h.State, want[h.Identity])
		}
	}
	if err := json.Unmarshal(get("/hosts?state=dead").Body.Bytes(), &hosts); err != nil || len(hosts) != 1 || hosts[0].Identity != "gone.example.test" {
		t.Errorf("state filter: %v %+v", err, hosts)
	}
	if rec := get("/stats"); rec.Code != http.StatusOK || rec.Body.String() == "" {
		t.Errorf("/stats: %d", rec.Code)
	}
	if rec := get("/healthz"); rec.Code != http.StatusOK {
		t.Errorf("/healthz: %d", rec.Code)
	}
	if rec := get("/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", rec.Code)
	}
	for path, want := range map[string]int{
		"/": http.StatusOK, "/?state=dead&sort=events&order=desc": http.StatusOK,
		"/?state=zombie": http.StatusBadRequest, "/?sort=password": http.StatusBadRequest,
	} {
		if rec := get(path); rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
	// Host names are escaped: the page is HTML built from what hosts send.
	if err := store.CommitBatch(ctx, "", subscriptions.Contact{Identity: "x.example.test", SubscriptionID: sub, MachineID: "<script>alert(1)</script>", At: now}); err != nil {
		t.Fatal(err)
	}
	if body := get("/").Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Error("MachineID not escaped on the status page")
	}
	// The node that last saw a host is shown (several nodes share one store).
	if err := store.CommitBatch(ctx, "", subscriptions.Contact{Identity: "y.example.test", SubscriptionID: sub, At: now, Node: "node-b"}); err != nil {
		t.Fatal(err)
	}
	if body := get("/?sort=node").Body.String(); !strings.Contains(body, "<td>node-b</td>") || !strings.Contains(body, ">Node</a>") {
		t.Error("the status page lacks the hosts' node")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/hosts", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestHealthzReportsFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		health func() error
		code   int
		body   string
	}{
		{"no check", nil, http.StatusOK, "ok"},
		{"healthy", func() error { return nil }, http.StatusOK, "ok"},
		{"spool failing", func() error { return errors.New("spool: writes failing: no space left on device") },
			http.StatusServiceUnavailable, "failing: spool: writes failing: no space left on device"},
	} {
		h := &Handler{Healthz: tc.health}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
}
