//go:build unix

package server

import "syscall"

// openFileLimit is the process's RLIMIT_NOFILE (Go raises the soft limit
// to the hard one at start), or 0 when it cannot be read.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}
