package spool

import "fmt"

// Config is the spool: section of the configuration file.
type Config struct {
	// Enabled defaults to true; without the spool a batch is acknowledged
	// only once every exporter confirmed it (and refused while one is
	// down).
	Enabled *bool `yaml:"enabled"`
	// Dir holds the segment files; the configuration defaults it to
	// <data_dir>/spool.
	Dir string `yaml:"dir"`
	// Options bound and encode the spool (max_bytes, segment_bytes,
	// compression).
	Options `yaml:",inline"`
}

// DefaultConfig returns the spool's defaults: on, 1 GiB, s2.
func DefaultConfig() Config {
	on := true
	return Config{Enabled: &on, Options: Options{MaxBytes: DefaultMaxBytes}}
}

// Validate checks the section; errors name the key.
func (c *Config) Validate() error { return c.Options.Validate() }

// Validate checks the options; errors name the configuration key. Open
// runs it too, so every value is checked in this one place.
func (o *Options) Validate() error {
	if o.MaxBytes < 0 {
		return fmt.Errorf("max_bytes %d must not be negative", o.MaxBytes)
	}
	if o.SegmentBytes < 0 {
		return fmt.Errorf("segment_bytes %d must not be negative", o.SegmentBytes)
	}
	switch o.Compression {
	case "", "zstd", "s2", "none":
	default:
		return fmt.Errorf("compression %q is not zstd, s2 or none", o.Compression)
	}
	return nil
}
