package admin

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"wefgate/subscriptions"
)

// Health is what the top of the status page shows: the spool and the
// exporters.
type Health struct {
	// Spool is nil when the spool is off.
	Spool *SpoolHealth
	// Exporters are the configured exporters in order.
	Exporters []ExporterHealth
	// ExportersFailing counts exporters in an outage (when the shipper does
	// not say which).
	ExportersFailing int
	// ExportLag is how long ago the oldest delivery not yet exported was
	// received.
	ExportLag time.Duration
}

// SpoolHealth is the spool's fill and backlog.
type SpoolHealth struct {
	Bytes, MaxBytes   int64
	PendingDeliveries uint64
	// WriteError is why appends fail now (disk full, I/O error): hosts get
	// 503 until the spool's probe succeeds. Empty while writing works.
	WriteError string
}

// ExporterHealth is one exporter.
type ExporterHealth struct {
	Name string
	// State is "ok", "failing" or "" when unknown.
	State string
	// Detail is the last error of a failing exporter.
	Detail string
	// Lag is how long ago the oldest delivery it has not confirmed was
	// received; Pending how many deliveries it has not confirmed.
	Lag     time.Duration
	Pending uint64
}

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes":  humanBytes,
	"title":  statTitle,
	"index0": func(m map[string]any, k string) any { return m[k] },
	"ago":    func(now, t time.Time) string { return agoString(now, t) },
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"pct": func(a, b int64) string {
		if b <= 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", 100*float64(a)/float64(b))
	},
}).Parse(pageHTML))

// sortKeys are the sortable columns, by query value.
var sortKeys = map[string]func(a, b *Host) int{
	"identity":     func(a, b *Host) int { return cmp.Compare(a.Identity, b.Identity) },
	"state":        func(a, b *Host) int { return cmp.Compare(stateRank(a.State), stateRank(b.State)) },
	"last_contact": func(a, b *Host) int { return a.LastSeen.Compare(b.LastSeen) },
	"last_batch":   func(a, b *Host) int { return a.LastEvent.Compare(b.LastEvent) },
	"events":       func(a, b *Host) int { return cmp.Compare(a.Events, b.Events) },
	"address":      func(a, b *Host) int { return cmp.Compare(a.Address, b.Address) },
	"machine_id":   func(a, b *Host) int { return cmp.Compare(a.MachineID, b.MachineID) },
	"node":         func(a, b *Host) int { return cmp.Compare(a.Node, b.Node) },
}

// stateRank orders states worst first, so that sorting by state puts the
// silent hosts on top.
func stateRank(s string) int {
	switch s {
	case subscriptions.Dead:
		return 0
	case subscriptions.Alive:
		return 1
	}
	return 2
}

type pageColumn struct {
	Key, Title string
	Link       string
	Arrow      string
}

type pageFilter struct {
	Title, Link string
	Count       int
	Current     bool
}

type pageSubscription struct {
	Name   string
	Counts map[string]int
	Hosts  []Host
}

type pageData struct {
	Now           time.Time
	Health        Health
	Stats         map[string]any
	StatKeys      []string
	Filters       []pageFilter
	Columns       []pageColumn
	Subscriptions []pageSubscription
	State         string
	Total         int
}

// statKeys are the counters the page shows, in order.
var statKeys = []string{"batches", "heartbeats", "enumerates", "events_received", "events_kept", "events_dropped", "events_damaged", "refused", "failed"}

// servePage renders the status page: ?state= filters (active, alive,
// dead), ?sort= and ?order= (asc, desc) sort every subscription's table.
// Everything is decided on the server, so the page works without
// JavaScript.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state != "" && state != subscriptions.Active && state != subscriptions.Alive && state != subscriptions.Dead {
		http.Error(w, "state must be active, alive or dead", http.StatusBadRequest)
		return
	}
	sortKey, order := q.Get("sort"), q.Get("order")
	if sortKey == "" {
		sortKey = "identity"
	}
	less, ok := sortKeys[sortKey]
	if !ok {
		http.Error(w, "unknown sort column", http.StatusBadRequest)
		return
	}
	if order != "desc" {
		order = "asc"
	}
	now := h.now()
	all, err := Hosts(r.Context(), h.Store, h.heartbeats(), now, "")
	if err != nil {
		h.Logger.Warn("admin: list hosts", "error", err)
		http.Error(w, "state store unavailable", http.StatusServiceUnavailable)
		return
	}
	d := pageData{Now: now, State: state, Total: len(all)}
	if h.Health != nil {
		d.Health = h.Health()
	}
	if h.Stats != nil {
		d.Stats = h.Stats()
		for _, k := range statKeys {
			if _, ok := d.Stats[k]; ok {
				d.StatKeys = append(d.StatKeys, k)
			}
		}
	}
	link := func(st, key, ord string) string {
		v := url.Values{}
		if st != "" {
			v.Set("state", st)
		}
		if key != "identity" || ord != "asc" {
			v.Set("sort", key)
			v.Set("order", ord)
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	counts := map[string]int{}
	bySub := map[string]*pageSubscription{}
	var names []string
	addSub := func(name string) *pageSubscription {
		if s, ok := bySub[name]; ok {
			return s
		}
		s := &pageSubscription{Name: name, Counts: map[string]int{}}
		bySub[name] = s
		names = append(names, name)
		return s
	}
	if h.Subscriptions != nil {
		for _, n := range h.Subscriptions() {
			addSub(n)
		}
	}
	for _, host := range all {
		counts[host.State]++
		s := addSub(host.Subscription)
		s.Counts[host.State]++
		if state == "" || host.State == state {
			s.Hosts = append(s.Hosts, host)
		}
	}
	d.Filters = []pageFilter{{Title: "all", Link: link("", sortKey, order), Count: len(all), Current: state == ""}}
	for _, st := range []string{subscriptions.Active, subscriptions.Alive, subscriptions.Dead} {
		d.Filters = append(d.Filters, pageFilter{Title: st, Link: link(st, sortKey, order), Count: counts[st], Current: state == st})
	}
	for _, c := range []struct{ key, title string }{
		{"identity", "Host"}, {"state", "State"}, {"last_contact", "Last contact"}, {"last_batch", "Last batch"},
		{"events", "Events"}, {"address", "Source address"}, {"machine_id", "MachineID"}, {"node", "Node"},
	} {
		col := pageColumn{Key: c.key, Title: c.title, Link: link(state, c.key, "asc")}
		if c.key == sortKey {
			if order == "asc" {
				col.Arrow, col.Link = "▲", link(state, c.key, "desc")
			} else {
				col.Arrow = "▼"
			}
		}
		d.Columns = append(d.Columns, col)
	}
	for _, n := range names {
		s := bySub[n]
		slices.SortStableFunc(s.Hosts, func(a, b Host) int {
			c := less(&a, &b)
			if c == 0 {
				c = cmp.Compare(a.Identity, b.Identity)
			}
			if order == "desc" {
				return -c
			}
			return c
		})
		d.Subscriptions = append(d.Subscriptions, *s)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page carries no script and loads nothing: say so to the browser.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := pageTmpl.Execute(w, &d); err != nil {
		h.Logger.Warn("admin: render status page", "error", err)
	}
}

func agoString(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// statTitle turns a counter key into words.
func statTitle(k string) string { return strings.ReplaceAll(k, "_", " ") }
