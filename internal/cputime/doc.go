// Package cputime reads the process's own CPU time, for the CPU-per-event
// figures of the benchmarks and of 'wefgate load' (the driver's side).
package cputime
