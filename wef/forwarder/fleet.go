package forwarder

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// Fleet runs simulated hosts as one unit: it owns their goroutines, stops
// every host as soon as one fails, and returns only when all of them
// have returned.
type Fleet struct {
	Hosts []*Host
	// Stagger spreads the hosts' starts evenly over this duration: a real
	// fleet does not enumerate in the same millisecond.
	Stagger time.Duration
}

// FleetStats sums the hosts' Stats.
type FleetStats struct {
	Hosts                                                 int
	Enumerates, Batches, Heartbeats, EventsAcked, Retries uint64
	EnumerateFailures                                     uint64
	// Connections is the number of connections open at the time.
	Connections int
}

// Run runs every host until ctx ends or each has returned (StopWhenDrained).
// A host that fails (an error other than the end of ctx) cancels the
// others; Run then returns that first error, naming the host.
func (f *Fleet) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	n := len(f.Hosts)
	for i, h := range f.Hosts {
		g.Go(func() error {
			if f.Stagger > 0 && n > 1 {
				t := time.NewTimer(f.Stagger * time.Duration(i) / time.Duration(n))
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
			if err := h.Run(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("host %s: %w", h.cfg.MachineID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Stats sums what the hosts did so far; safe while Run runs.
func (f *Fleet) Stats() FleetStats {
	s := FleetStats{Hosts: len(f.Hosts)}
	for _, h := range f.Hosts {
		s.Enumerates += h.Stats.Enumerates.Load()
		s.Batches += h.Stats.Batches.Load()
		s.Heartbeats += h.Stats.Heartbeats.Load()
		s.EventsAcked += h.Stats.EventsAcked.Load()
		s.Retries += h.Stats.Retries.Load()
		s.EnumerateFailures += h.Stats.EnumerateFailures.Load()
		s.Connections += h.cfg.Client.OpenConnections()
	}
	return s
}
