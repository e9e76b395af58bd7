//go:build !unix

package spool

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir/LOCK exclusively where flock is unavailable. A lock
// left by a crash must then be removed by hand, which the error says.
func lockDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("%w: %s exists (another process, or left by a crash: remove it if no process uses the spool): %v", ErrLocked, path, err)
	}
	return func() {
		f.Close()
		os.Remove(path)
	}, nil
}
