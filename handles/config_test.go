package handles

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	rules := []NoiseRule{{ObjectType: "Key"}}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"tag with rules", func(c *Config) { c.Noise = NoiseConfig{Mode: NoiseTag, Rules: rules} }, ""},
		{"drop without rules", func(c *Config) { c.Noise.Mode = NoiseDrop }, "noise: mode tag or drop needs rules naming the objects that are noise"},
		{"reorder_records", func(c *Config) { c.ReorderRecords = -1 }, "reorder_records must not be negative"},
		{"reorder_time", func(c *Config) { c.ReorderTime = -time.Second }, "reorder_time must not be negative"},
		{"max_pending", func(c *Config) { c.MaxPending = -1 }, "max_pending must not be negative"},
		{"max_handles", func(c *Config) { c.MaxHandles = -1 }, "max_handles must not be negative"},
		{"max_processes", func(c *Config) { c.MaxProcesses = -1 }, "max_processes must not be negative"},
		{"max_state_bytes", func(c *Config) { c.MaxStateBytes = -1 }, "max_state_bytes must not be negative"},
		{"max_pending_bytes", func(c *Config) { c.MaxPendingBytes = -1 }, "max_pending_bytes must not be negative"},
		{"handle_max_age", func(c *Config) { c.HandleMaxAge = -1 }, "handle_max_age must not be negative"},
		{"process_max_age", func(c *Config) { c.ProcessMaxAge = -1 }, "process_max_age must not be negative"},
		{"stats_interval", func(c *Config) { c.StatsInterval = -1 }, "stats_interval must not be negative"},
		{"summary_interval", func(c *Config) { c.Noise.SummaryInterval = -1 }, "noise.summary_interval must not be negative"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.edit(&c)
		err := c.Validate()
		if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNoiseModeYAML(t *testing.T) {
	for text, want := range map[string]NoiseMode{"off": NoiseOff, "tag": NoiseTag, "drop": NoiseDrop, `""`: NoiseOff} {
		var c NoiseConfig
		if err := yaml.Unmarshal([]byte("mode: "+text), &c); err != nil || c.Mode != want {
			t.Errorf("mode %s: %v, %v; want %v", text, c.Mode, err, want)
		}
	}
	var c NoiseConfig
	if err := yaml.Unmarshal([]byte("mode: loud"), &c); err == nil || !strings.Contains(err.Error(), "handles.noise.mode") {
		t.Errorf("mode loud: %v, want an error naming handles.noise.mode", err)
	}
}
