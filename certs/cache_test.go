package certs

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestChainCacheHonoursValidityOfWholeChain(t *testing.T) {
	now := time.Now()
	leaf := &x509.Certificate{Raw: []byte("leaf"), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour)}
	issuer := &x509.Certificate{Raw: []byte("issuing"), NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(24 * time.Hour)}
	root := &x509.Certificate{Raw: []byte("root"), NotBefore: now.Add(-30 * time.Minute), NotAfter: now.Add(72 * time.Hour)}
	c := newChainCache()
	c.put([]*x509.Certificate{leaf, issuer, root})

	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"now", now, true},
		{"before the root's notBefore", now.Add(-45 * time.Minute), false},
		{"after the issuer's notAfter", now.Add(25 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.get(leaf, tt.at)
			if ok != tt.want {
				t.Fatalf("hit = %v, want %v", ok, tt.want)
			}
			if ok && (len(got) < 2 || got[1] != issuer) {
				t.Fatal("cached chain does not hold the issuer second")
			}
		})
	}
	if _, ok := c.get(&x509.Certificate{Raw: []byte("other")}, now); ok {
		t.Fatal("hit for an unknown leaf")
	}
}
