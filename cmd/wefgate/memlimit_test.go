package main

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	unset := func(t *testing.T, names ...string) {
		for _, n := range names {
			t.Setenv(n, "") // restored after the test
			os.Unsetenv(n)
		}
	}
	gib := 1.0 * (1 << 30)
	ninetyPercentOfGiB := int64(gib * memoryLimitRatio)
	tests := []struct {
		name     string
		env      map[string]string
		provider memlimit.Provider
		want     int64
	}{
		{"cgroup limit", nil, memlimit.Limit(1 << 30), ninetyPercentOfGiB},
		{"no cgroup", nil, func() (uint64, error) { return 0, memlimit.ErrNoCgroup }, 0},
		{"no limit", nil, func() (uint64, error) { return 0, memlimit.ErrNoLimit }, 0},
		{"unreadable", nil, func() (uint64, error) { return 0, errors.New("permission denied") }, 0},
		{"GOMEMLIMIT wins", map[string]string{"GOMEMLIMIT": "512MiB"}, memlimit.Limit(1 << 30), 512 << 20},
		{"turned off", map[string]string{"AUTOMEMLIMIT": "off"}, memlimit.Limit(1 << 30), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unset(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			debug.SetMemoryLimit(math.MaxInt64)
			if _, ok := tt.env["GOMEMLIMIT"]; ok {
				debug.SetMemoryLimit(tt.want) // the runtime reads GOMEMLIMIT at start; emulate it
			}
			got := applyMemoryLimit(slog.New(slog.DiscardHandler), tt.provider)
			if got != tt.want {
				t.Fatalf("applyMemoryLimit = %d, want %d", got, tt.want)
			}
			if rt := debug.SetMemoryLimit(-1); tt.want != 0 && rt != tt.want {
				t.Fatalf("runtime limit %d, want %d", rt, tt.want)
			}
		})
	}
}
