//go:build unix

package cputime

import "testing"

func TestSelfAdvances(t *testing.T) {
	before := Self()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if Self() <= before || x == 0 {
		t.Fatalf("CPU time did not advance: %v → %v", before, Self())
	}
}
