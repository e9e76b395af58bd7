package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"text/tabwriter"
	"time"

	"wefgate/config"
	"wefgate/internal/admin"
	"wefgate/subscriptions"
)

// cmdHosts lists the hosts wefgate knows with their liveness: from the
// admin endpoint of a running wefgate, or from the state store when it is
// stopped.
func cmdHosts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hosts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	state := fs.String("state", "", "only hosts in this state: active, alive or dead")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *state {
	case "", subscriptions.Active, subscriptions.Alive, subscriptions.Dead:
	default:
		return fmt.Errorf("hosts: -state %q is not active, alive or dead", *state)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	var hosts []admin.Host
	switch {
	case cfg.Admin.Address != "" && cfg.Admin.CertFile == "":
		hosts, err = hostsFromAdmin(ctx, &cfg.Admin, *state)
		if errors.Is(err, syscall.ECONNREFUSED) {
			// Nothing listens there: wefgate is stopped, so its state
			// store is free to read.
			hosts, err = hostsFromStore(ctx, cfg, *state)
		}
	case cfg.Admin.Address != "":
		// An HTTPS admin listener is not asked (no client credentials
		// here): the store answers once wefgate is stopped.
		hosts, err = hostsFromStore(ctx, cfg, *state)
		if errors.Is(err, subscriptions.ErrStoreLocked) {
			err = fmt.Errorf("hosts: the admin listener at %s serves HTTPS and the state store is in use by the running wefgate: fetch https://%s/hosts, or stop wefgate", cfg.Admin.Address, cfg.Admin.Address)
		}
	default:
		hosts, err = hostsFromStore(ctx, cfg, *state)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(hosts)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSUBSCRIPTION\tSTATE\tADDRESS\tMACHINE ID\tNODE\tLAST SEEN\tLAST EVENT\tEVENTS")
	for _, h := range hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", h.Identity, h.Subscription, h.State, h.Address, h.MachineID,
			h.Node, ago(h.LastSeen), ago(h.LastEvent), h.Events)
	}
	return tw.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func hostsFromAdmin(ctx context.Context, ac *admin.Config, state string) ([]admin.Host, error) {
	addr := ac.Address
	u := url.URL{Scheme: "http", Host: addr, Path: "/hosts"}
	if state != "" {
		u.RawQuery = url.Values{"state": {state}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if ac.BasicAuth.Username != "" {
		pw, err := ac.Password()
		if err != nil {
			return nil, fmt.Errorf("hosts: %w", err)
		}
		req.SetBasicAuth(ac.BasicAuth.Username, pw)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("hosts: ask the running wefgate at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("hosts: %s answered %s", addr, resp.Status)
	}
	var hosts []admin.Host
	if err := json.NewDecoder(resp.Body).Decode(&hosts); err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	return hosts, nil
}

func hostsFromStore(ctx context.Context, cfg *config.Config, state string) ([]admin.Host, error) {
	store, err := openAdminStore(ctx, cfg, false)
	if errors.Is(err, subscriptions.ErrStoreLocked) {
		return nil, fmt.Errorf("hosts: %w; set admin.address in the configuration to query it live", err)
	}
	if err != nil {
		return nil, err
	}
	defer store.Close()
	heartbeats := map[string]time.Duration{}
	for _, d := range cfg.Subscriptions {
		heartbeats[d.ID] = d.HeartbeatInterval
	}
	return admin.Hosts(ctx, store, heartbeats, time.Now(), state)
}
