package forwarder

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogramSub is the number of buckets per power of two: quantiles are
// exact to within 1/histogramSub (12.5 %) of their value.
const (
	histogramSub  = 8
	histogramBits = 40 // up to 2^40 ns, about 18 minutes
)

// Histogram counts durations in log-linear buckets, safe for concurrent
// use by thousands of hosts without a lock. The zero value is ready.
type Histogram struct {
	buckets [histogramBits * histogramSub]atomic.Uint64
}

func bucketOf(ns uint64) int {
	if ns < histogramSub {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // ns in [2^exp, 2^(exp+1))
	sub := int(ns>>(exp-3)) & (histogramSub - 1)
	i := (exp-2)*histogramSub + sub
	return min(i, histogramBits*histogramSub-1)
}

// bucketUpper is the largest duration that falls in bucket i.
func bucketUpper(i int) time.Duration {
	if i < histogramSub {
		return time.Duration(i)
	}
	exp := i/histogramSub + 2
	sub := uint64(i % histogramSub)
	return time.Duration((histogramSub+sub+1)<<(exp-3) - 1)
}

// Observe adds one duration (negative counts as 0).
func (h *Histogram) Observe(d time.Duration) {
	h.buckets[bucketOf(uint64(max(d, 0)))].Add(1)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.buckets {
		n += h.buckets[i].Load()
	}
	return n
}

// Quantile returns the upper bound of the bucket holding the q-th
// quantile (0 < q ≤ 1), or 0 without observations.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(h.buckets) - 1)
}

// Reset forgets every observation (the load driver's warm-up).
func (h *Histogram) Reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
}
