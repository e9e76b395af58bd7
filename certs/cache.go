package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// maxCachedChains bounds the verified-chain cache; far above the number of
// forwarders one collector serves, so a flush is an anomaly, not churn.
const maxCachedChains = 1 << 16

// verifiedChain is what chain building established about a leaf. Only
// time can invalidate it (the trust anchors of a Verifier are fixed), so
// it keeps the window in which every certificate of the chain is valid;
// revocation is looked up on every use.
type verifiedChain struct {
	chain     []*x509.Certificate
	notBefore time.Time
	notAfter  time.Time
}

// chainCache remembers verified chains by leaf, because Identify runs on
// every request and chain building with two ECDSA verifications costs far
// more than the rest of a delivery's authentication.
type chainCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedChain
}

func newChainCache() *chainCache {
	return &chainCache{entries: make(map[[sha256.Size]byte]verifiedChain)}
}

func (c *chainCache) get(leaf *x509.Certificate, now time.Time) ([]*x509.Certificate, bool) {
	key := sha256.Sum256(leaf.Raw)
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || now.Before(e.notBefore) || now.After(e.notAfter) {
		return nil, false
	}
	return e.chain, true
}

func (c *chainCache) put(chain []*x509.Certificate) {
	e := verifiedChain{chain: chain, notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(e.notBefore) {
			e.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(e.notAfter) {
			e.notAfter = cert.NotAfter
		}
	}
	key := sha256.Sum256(chain[0].Raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedChains {
		clear(c.entries)
	}
	c.entries[key] = e
}
