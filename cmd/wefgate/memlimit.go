package main

import (
	"errors"
	"log/slog"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of the cgroup's memory limit given to the
// Go runtime as its soft limit; the rest covers what the runtime does not
// count (stacks of idle goroutines beyond its estimate, the kernel's page
// cache charged to the cgroup, fragmentation).
const memoryLimitRatio = 0.9

// applyMemoryLimit gives the Go runtime a soft memory limit (GOMEMLIMIT,
// https://go.dev/doc/gc-guide#Memory_limit) of 90 % of the memory limit of
// wefgate's cgroup (systemd MemoryMax=, a container's limit), read from
// provider (memlimit.FromCgroup in production). Without a limit the heap
// grows to twice what is live before a collection, which with thousands of
// idle connections (tens of KB each) is the difference between fitting a
// memory bound and being killed at it. GOMEMLIMIT in the environment wins,
// and AUTOMEMLIMIT=off turns this off. It returns the limit in bytes, or 0
// when there is none.
func applyMemoryLimit(logger *slog.Logger, provider memlimit.Provider) int64 {
	limit, err := memlimit.Set(memlimit.WithProvider(provider), memlimit.WithRatio(memoryLimitRatio),
		memlimit.WithLogger(slog.New(slog.DiscardHandler)))
	switch {
	case err != nil && !errors.Is(err, memlimit.ErrNoCgroup) && !errors.Is(err, memlimit.ErrNoLimit) &&
		!errors.Is(err, memlimit.ErrCgroupsNotSupported):
		logger.Warn("Go runtime memory limit not set", "error", err)
		return 0
	case limit <= 0 || limit == math.MaxInt64:
		logger.Info("Go runtime memory limit: none (no cgroup memory bound and no GOMEMLIMIT, or AUTOMEMLIMIT=off)")
		return 0
	}
	logger.Info("Go runtime memory limit", "bytes", limit, "mib", limit>>20)
	return limit
}
