package spool

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" means valid
	}{
		{"defaults", DefaultConfig().Options, ""},
		{"s2", Options{Compression: "s2"}, ""},
		{"negative max_bytes", Options{MaxBytes: -1}, "max_bytes -1 must not be negative"},
		{"negative segment_bytes", Options{SegmentBytes: -2}, "segment_bytes -2 must not be negative"},
		{"unknown compression", Options{Compression: "lz4"}, `compression "lz4" is not zstd, s2 or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Options = tt.opts
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Open(t.TempDir(), Options{Compression: "lz4"}, nil); err == nil || !strings.Contains(err.Error(), "compression") {
		t.Errorf("Open with a bad compression: %v", err)
	}
}
