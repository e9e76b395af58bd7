package config

import (
	"fmt"
	"net"
	"strings"
)

// Warnings lists settings that are valid but probably not what the
// operator wants; check-config prints them and run logs them at start.
func (c *Config) Warnings() []string {
	var w []string
	// Validate refuses an unprotected admin listener beyond loopback; basic
	// authentication without TLS still sends the password in clear.
	if c.Admin.Address != "" && !isLoopback(c.Admin.Address) && c.Admin.BasicAuth.Username != "" && c.Admin.CertFile == "" {
		w = append(w, fmt.Sprintf("admin.address %q listens beyond loopback with basic_auth over plain HTTP: the password crosses the network in clear; set admin.cert_file and admin.key_file", c.Admin.Address))
	}
	return w
}

// isLoopback reports whether a host:port listen address binds only
// loopback interfaces. An empty host binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
