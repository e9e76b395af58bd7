// Package loopback tells whether a listen or connect address stays on the
// machine, and picks free loopback ports. The admin listener refuses to
// bind beyond loopback unprotected, and check-config warns about
// unverified database connections that leave it; both must agree on what
// "loopback" means.
package loopback

import (
	"fmt"
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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a child process (a test Collector, KDC or database, a load run's
// gateway) that must be told its port before it binds. Another process
// could take it in between; the child then fails to bind, loudly.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
