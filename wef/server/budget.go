package server

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"golang.org/x/sync/semaphore"
)

// Budget bounds the request bytes held in memory at once over every
// listener: bodies as received, their decompressed form and the decoded
// text. A request reserves its bytes before it allocates them and gives
// them back when it is answered; beyond the budget it waits (FIFO) up to
// the configured wait, then is refused with 503 and Retry-After. So
// parallel SLDC requests cannot grow the heap without bound (issue 10 part
// 3). A Budget is safe for concurrent use.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration

	inFlight atomic.Int64
	peak     atomic.Int64
	waiting  atomic.Int64
	waited   atomic.Uint64
	refused  atomic.Uint64
}

// BudgetStats is a snapshot of a Budget.
type BudgetStats struct {
	// Size is the budget and InFlight the bytes reserved now, Peak the
	// most ever reserved at once (bytes).
	Size, InFlight, Peak int64
	// Waiting is the number of requests waiting now; Waited counts those
	// that had to wait, Refused those refused after waiting.
	Waiting         int64
	Waited, Refused uint64
}

// NewBudget returns a budget of size bytes (at least 1 MiB) where a request
// waits at most wait for room.
func NewBudget(size int64, wait time.Duration) *Budget {
	size = max(size, 1<<20)
	return &Budget{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// Stats returns the budget's counters.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{Size: b.size, InFlight: b.inFlight.Load(), Peak: b.peak.Load(),
		Waiting: b.waiting.Load(), Waited: b.waited.Load(), Refused: b.refused.Load()}
}

// errBudget is the refusal of a request that found no room in time.
var errBudget = errors.New("decompressed-bytes budget exhausted")

// reservation is what one request holds of a Budget.
type reservation struct {
	b    *Budget
	held int64
}

// grow reserves n more bytes, waiting for room. A request never holds
// more than the whole budget, so one large request alone always fits.
// Call it once per request: growing while holding can deadlock.
func (r *reservation) grow(ctx context.Context, n int64) error {
	if r.b == nil || n <= 0 {
		return nil
	}
	n = min(n, r.b.size-r.held)
	if n <= 0 {
		return nil
	}
	if !r.b.sem.TryAcquire(n) {
		r.b.waited.Add(1)
		r.b.waiting.Add(1)
		ctx, cancel := context.WithTimeout(ctx, r.b.wait)
		err := r.b.sem.Acquire(ctx, n)
		cancel()
		r.b.waiting.Add(-1)
		if err != nil {
			r.b.refused.Add(1)
			return errBudget
		}
	}
	r.account(n)
	return nil
}

// account records n more bytes acquired from the semaphore.
func (r *reservation) account(n int64) {
	r.held += n
	now := r.b.inFlight.Add(n)
	for p := r.b.peak.Load(); now > p && !r.b.peak.CompareAndSwap(p, now); p = r.b.peak.Load() {
	}
}

// resize makes the reservation n bytes. Giving back never waits; growing
// takes the difference if it is free at once, and otherwise gives
// everything back and waits for all n: a request never waits while it
// holds part of the budget, so parallel requests cannot deadlock on it.
func (r *reservation) resize(ctx context.Context, n int64) error {
	if r.b == nil {
		return nil
	}
	n = min(n, r.b.size)
	if n <= r.held {
		r.shrink(n)
		return nil
	}
	if r.held > 0 && r.b.sem.TryAcquire(n-r.held) {
		r.account(n - r.held)
		return nil
	}
	r.release()
	return r.grow(ctx, n)
}

// shrink gives back what the request holds beyond keep bytes.
func (r *reservation) shrink(keep int64) {
	if r.b == nil || r.held <= keep {
		return
	}
	n := r.held - max(keep, 0)
	r.held -= n
	r.b.inFlight.Add(-n)
	r.b.sem.Release(n)
}

// release gives back everything.
func (r *reservation) release() { r.shrink(0) }

// DefaultBudgetBytes derives a budget from the memory the process may
// use: 1/8 of the smaller of physical memory and the memory limit of the
// process's cgroup (v1 or v2, read by automemlimit as for the runtime's
// soft limit), between 64 MiB and 1 GiB; 256 MiB when neither can be read.
func DefaultBudgetBytes() int64 {
	// The process's own cgroup (systemd MemoryMax=, a container), as the
	// runtime's memory limit reads it, else the machine's memory.
	var mem int64
	if n, err := memlimit.FromSystem(); err == nil {
		mem = int64(min(n, math.MaxInt64))
	}
	if n, err := memlimit.FromCgroup(); err == nil && n > 0 && (mem == 0 || int64(min(n, math.MaxInt64)) < mem) {
		mem = int64(n)
	}
	if mem <= 0 {
		return 256 << 20
	}
	return min(max(mem/8, 64<<20), 1<<30)
}
