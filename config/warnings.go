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
	if c.Admin.Address != "" && !isLoopback(c.Admin.Address) {
		w = append(w, fmt.Sprintf("admin.address %q listens beyond loopback: /hosts shows every host's identity and address, without authentication; bind it to 127.0.0.1 or ::1, or restrict it with a firewall", c.Admin.Address))
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
