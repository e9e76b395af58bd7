package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"wefgate/internal/loopback"

	"github.com/jackc/pgx/v5/pgconn"

	"wefgate/subscriptions"
)

// Warnings lists settings that are valid but probably not what the
// operator wants; check-config prints them and run logs them at start.
func (c *Config) Warnings() []string {
	var w []string
	// Validate refuses an unprotected admin listener beyond loopback; basic
	// authentication without TLS still sends the password in clear.
	if c.Admin.Address != "" && !loopback.Address(c.Admin.Address) && c.Admin.BasicAuth.Username != "" && c.Admin.CertFile == "" {
		w = append(w, fmt.Sprintf("admin.address %q listens beyond loopback with basic_auth over plain HTTP: the password crosses the network in clear; set admin.cert_file and admin.key_file", c.Admin.Address))
	}
	if err := checkHostname(c.Hostname); err != nil && c.hostnameDerived {
		w = append(w, fmt.Sprintf("hostname: this machine's name %q is not a DNS name (%v); hosts could not reach it by that name: set hostname", c.Hostname, err))
	}
	w = append(w, c.stateWarnings()...)
	return w
}

// stateWarnings concern the connection to a shared PostgreSQL state store.
func (c *Config) stateWarnings() []string {
	p := c.State.Postgres
	if c.State.Backend != subscriptions.BackendPostgres || p.URL == "" {
		return nil
	}
	var w []string
	if u, err := url.Parse(p.URL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			w = append(w, "state.postgres.url carries a password: anyone who can read this file can write every host's bookmarks; put it in PGPASSWORD or ~/.pgpass instead")
		}
	} else if strings.Contains(p.URL, "password=") {
		w = append(w, "state.postgres.url carries a password: anyone who can read this file can write every host's bookmarks; put it in PGPASSWORD or ~/.pgpass instead")
	}
	pc, err := pgconn.ParseConfig(p.URL)
	if err != nil || p.CAFile != "" || loopback.Address(net.JoinHostPort(pc.Host, "0")) {
		return w
	}
	// verify-ca checks the chain in VerifyPeerCertificate, verify-full
	// also the name; require, prefer and disable check nothing.
	checks := func(tc *tls.Config) bool {
		return tc != nil && (!tc.InsecureSkipVerify || tc.VerifyPeerCertificate != nil)
	}
	verified := checks(pc.TLSConfig)
	for _, f := range pc.Fallbacks {
		verified = verified && checks(f.TLSConfig)
	}
	if !verified {
		w = append(w, fmt.Sprintf("state.postgres.url: the connection to %s is not TLS with a verified certificate (sslmode verify-full, or state.postgres.ca_file)", pc.Host))
	}
	return w
}
