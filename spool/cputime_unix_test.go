//go:build unix

package spool

import (
	"syscall"
	"time"
)

// cpuTime returns the process's user+system CPU time, for the cpu-µs
// figures of the benchmarks.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
