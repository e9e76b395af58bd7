// Package loopback tells whether a listen or connect address stays on the
// machine. The admin listener refuses to bind beyond loopback unprotected,
// and check-config warns about unverified database connections that leave
// it; both must agree on what "loopback" means.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host ("localhost", "127.0.0.1", "::1", "[::1]") names
// only loopback interfaces. An empty host means every interface: false.
func Host(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Address reports whether a host:port address binds or reaches only
// loopback interfaces; a malformed address is false.
func Address(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && Host(host)
}
