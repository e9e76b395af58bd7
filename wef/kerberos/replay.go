package kerberos

import (
	"crypto/sha256"
	"sync"
	"time"
)

// replayCache remembers authenticators for as long as the clock-skew check
// would still accept them (RFC 4120 §3.2.3). Memory is bounded: when full,
// the oldest entries are dropped first. Entries expire in insertion order
// because every entry lives for the same duration.
type replayCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	seen    map[[sha256.Size]byte]struct{}
	order   [][sha256.Size]byte // FIFO of keys, oldest first
	expires []time.Time         // parallel to order
	head    int
}

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{ttl: ttl, max: max, seen: make(map[[sha256.Size]byte]struct{})}
}

// check records key and reports whether it was already present.
func (c *replayCache) check(key [sha256.Size]byte, now time.Time) (replay bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.order) && (!now.Before(c.expires[c.head]) || len(c.order)-c.head >= c.max) {
		delete(c.seen, c.order[c.head])
		c.head++
	}
	// Compact once the consumed prefix dominates, keeping appends amortised O(1).
	if c.head > 0 && c.head >= len(c.order)/2 {
		n := copy(c.order, c.order[c.head:])
		copy(c.expires, c.expires[c.head:])
		c.order, c.expires, c.head = c.order[:n], c.expires[:n], 0
	}
	if _, ok := c.seen[key]; ok {
		return true
	}
	c.seen[key] = struct{}{}
	c.order = append(c.order, key)
	c.expires = append(c.expires, now.Add(c.ttl))
	return false
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
