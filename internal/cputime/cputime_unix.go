//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Self returns the user+system CPU time the process has used so far
// (getrusage(2), RUSAGE_SELF), or 0 when it cannot be read.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
