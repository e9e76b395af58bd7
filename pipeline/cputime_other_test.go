//go:build !unix

package pipeline

import "time"

// cpuTime is not measured here; the cpu-µs figures read 0.
func cpuTime() time.Duration { return 0 }
