package server

import (
	"errors"
	"time"
)

// Limits bound what clients can make the endpoint hold: the "limits"
// section of the configuration. Zero fields take the defaults.
type Limits struct {
	// DecompressedBytes is the budget of request bytes in memory at once
	// over every listener (see Budget); 0 derives it from the machine's
	// memory (DefaultBudgetBytes).
	DecompressedBytes int64 `yaml:"decompressed_bytes"`
	// BudgetWait is how long a request waits for room in the budget
	// before it is refused with 503 and Retry-After.
	BudgetWait time.Duration `yaml:"budget_wait"`
	// MaxConnections caps the open connections of each WS-Man listener;
	// MaxConnectionsPerAddress caps those from one source address. Beyond
	// them a new connection is closed at once. Each listener counts its
	// own, so one cannot starve the other.
	MaxConnections           int `yaml:"max_connections"`
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// HandshakeTimeout bounds, for a connection whose peer has not
	// authenticated yet, the TLS handshake, each read of request headers
	// and each wait between requests.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// MaxHandshakes caps the connections of each WS-Man listener whose
	// peer has not authenticated yet (TLS handshake, first request). At
	// the cap the listener stops accepting: new connections wait in the
	// kernel's accept queue, where HandshakeTimeout has not started, so a
	// busy collector that a whole fleet connects to at once finishes the
	// handshakes it started instead of timing most of them out.
	MaxHandshakes int `yaml:"max_handshakes"`
	// RefusalLogInterval is the least time between two log lines of one
	// refusal reason and source address; the lines held back are counted
	// and reported on the next one.
	RefusalLogInterval time.Duration `yaml:"refusal_log_interval"`
}

// Defaults of the limits section (the budget's depends on the machine).
const (
	DefaultBudgetWait = 5 * time.Second
	// DefaultMaxConnectionsPerAddress leaves room for many hosts behind
	// one NAT address while keeping one address from taking a listener.
	DefaultMaxConnectionsPerAddress = 1024
	DefaultHandshakeTimeout         = 10 * time.Second
	// DefaultMaxHandshakes is about half a second of a core's work in
	// full TLS handshakes with client-certificate verification (~0.5 ms
	// each): far below what HandshakeTimeout allows even on a busy
	// machine, far above what a responsive collector has in progress.
	DefaultMaxHandshakes      = 1024
	DefaultRefusalLogInterval = 10 * time.Second
)

// DefaultMaxConnections derives limits.max_connections from the open-file
// limit: the two WS-Man listeners share the process's descriptors with the
// spool, the store and the exporters (512 kept for those), so each gets
// half of the rest, between 64 and 16384. Without a readable limit: 4096.
func DefaultMaxConnections() int {
	n := openFileLimit()
	if n == 0 {
		return 4096
	}
	if n < 512+128 {
		return 64
	}
	return int(min((n-512)/2, 16384))
}

// DefaultLimits returns the defaults, the budget derived from the memory
// of this machine.
func DefaultLimits() Limits {
	return Limits{
		DecompressedBytes: DefaultBudgetBytes(), BudgetWait: DefaultBudgetWait,
		MaxConnections: DefaultMaxConnections(), MaxConnectionsPerAddress: DefaultMaxConnectionsPerAddress,
		HandshakeTimeout: DefaultHandshakeTimeout, RefusalLogInterval: DefaultRefusalLogInterval,
		MaxHandshakes: DefaultMaxHandshakes,
	}
}

// ApplyDefaults fills the zero fields (keys left out of the
// configuration) with DefaultLimits' values; negative values stay for
// Validate to refuse.
func (l *Limits) ApplyDefaults() {
	d := DefaultLimits()
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxConnectionsPerAddress == 0 {
		l.MaxConnectionsPerAddress = min(d.MaxConnectionsPerAddress, max(l.MaxConnections, 0))
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = d.HandshakeTimeout
	}
	if l.MaxHandshakes == 0 {
		l.MaxHandshakes = d.MaxHandshakes
	}
	if l.RefusalLogInterval == 0 {
		l.RefusalLogInterval = d.RefusalLogInterval
	}
	if l.DecompressedBytes == 0 {
		l.DecompressedBytes = d.DecompressedBytes
	}
	if l.BudgetWait == 0 {
		l.BudgetWait = d.BudgetWait
	}
}

// Validate checks the limits without changing them; errors name the
// offending key. Zero fields are valid (ApplyDefaults fills them).
func (l *Limits) Validate() error {
	if l.DecompressedBytes < 0 {
		return errors.New("limits.decompressed_bytes must not be negative")
	}
	if l.DecompressedBytes > 0 && l.DecompressedBytes < 1<<20 {
		return errors.New("limits.decompressed_bytes must be at least 1 MiB (1048576)")
	}
	if l.BudgetWait < 0 {
		return errors.New("limits.budget_wait must not be negative")
	}
	if l.MaxConnections < 0 || l.MaxConnectionsPerAddress < 0 {
		return errors.New("limits.max_connections and limits.max_connections_per_address must not be negative")
	}
	if l.MaxHandshakes < 0 {
		return errors.New("limits.max_handshakes must not be negative")
	}
	if l.HandshakeTimeout < 0 || l.RefusalLogInterval < 0 {
		return errors.New("limits.handshake_timeout and limits.refusal_log_interval must not be negative")
	}
	if l.MaxConnections > 0 && l.MaxConnectionsPerAddress > l.MaxConnections {
		return errors.New("limits.max_connections_per_address must not exceed limits.max_connections")
	}
	return nil
}
