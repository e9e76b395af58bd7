package server

import (
	"errors"
	"time"
)

// Limits bound what clients can make the endpoint hold: the "limits"
// section of the configuration. Zero fields take the defaults.
type Limits struct {
	// DecompressedBytes is the budget of request bytes in memory at once
	// over every listener (see Budget); 0 derives it from the machine's
	// memory (DefaultBudgetBytes).
	DecompressedBytes int64 `yaml:"decompressed_bytes"`
	// BudgetWait is how long a request waits for room in the budget
	// before it is refused with 503 and Retry-After.
	BudgetWait time.Duration `yaml:"budget_wait"`
}

// DefaultBudgetWait is the default of limits.budget_wait.
const DefaultBudgetWait = 5 * time.Second

// DefaultLimits returns the defaults, the budget derived from the memory
// of this machine.
func DefaultLimits() Limits {
	return Limits{DecompressedBytes: DefaultBudgetBytes(), BudgetWait: DefaultBudgetWait}
}

// Validate fills zero fields with their defaults and checks the rest;
// errors name the offending key.
func (l *Limits) Validate() error {
	if l.DecompressedBytes < 0 {
		return errors.New("limits.decompressed_bytes must not be negative")
	}
	if l.DecompressedBytes > 0 && l.DecompressedBytes < 1<<20 {
		return errors.New("limits.decompressed_bytes must be at least 1 MiB (1048576)")
	}
	if l.BudgetWait < 0 {
		return errors.New("limits.budget_wait must not be negative")
	}
	d := DefaultLimits()
	if l.DecompressedBytes == 0 {
		l.DecompressedBytes = d.DecompressedBytes
	}
	if l.BudgetWait == 0 {
		l.BudgetWait = d.BudgetWait
	}
	return nil
}
