package file

import "errors"

// Config is the exporters.file: section of the configuration file (besides
// enabled, which the configuration derives from the other exporters).
type Config struct {
	// Path is the JSON-lines file; the configuration defaults it to
	// <data_dir>/events.jsonl.
	Path string `yaml:"path"`
}

// DefaultConfig returns the file exporter's defaults (the path is set by
// the configuration, from data_dir).
func DefaultConfig() Config { return Config{} }

// Validate checks the section; errors name the key.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path must not be empty")
	}
	return nil
}
