package server

import "strings"

// catalog is the set of subscriptions a handler serves. A reload replaces
// it whole: a request works with the catalog it started with, and
// connections stay open across the change.
type catalog struct {
	list []Subscription
	byID map[string]Subscription
	// maxEnvelope is the largest MaxEnvelopeSize of any subscription, in
	// UTF-16 code units: no decompressed body may exceed its encoding.
	maxEnvelope int
}

func newCatalog(subs []Subscription) *catalog {
	c := &catalog{list: append([]Subscription(nil), subs...), byID: make(map[string]Subscription, len(subs))}
	for _, s := range subs {
		id, _ := s.Key()
		c.byID[strings.ToUpper(id)] = s
		size, _ := s.BatchLimits()
		c.maxEnvelope = max(c.maxEnvelope, size)
	}
	return c
}

// SetSubscriptions replaces the subscriptions the handler offers and
// accepts deliveries for (configuration reload). Hosts re-subscribe only
// when the version of their subscription changed, which Offer carries.
// Safe for concurrent use with requests.
func (h *Handler) SetSubscriptions(subs []Subscription) {
	h.subs.Store(newCatalog(subs))
}

func (h *Handler) catalog() *catalog { return h.subs.Load() }
