package handles

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"wefgate/internal/glob"
)

// Defaults applied by NewCorrelator to zero (or negative) Config fields.
const (
	DefaultReorderRecords = 256
	DefaultReorderTime    = 2 * time.Second
	// DefaultLateOpenFactor sets LateOpenWait to this many ReorderTimes
	// (10 s by default): 2× the latest open seen in real captures, a 4656
	// logged about 5 s (1,423 records) after its 4690.
	DefaultLateOpenFactor  = 5
	DefaultMaxPending      = 65536
	DefaultMaxHandles      = 262144
	DefaultMaxProcesses    = 65536
	DefaultHandleMaxAge    = 10 * time.Minute
	DefaultProcessMaxAge   = 24 * time.Hour
	DefaultSummaryInterval = time.Minute
	DefaultMaxNoiseKeys    = 4096
	// DefaultMaxStateBytes and DefaultMaxPendingBytes bound the memory of
	// handle and process state, and of the reorder window, whatever the
	// size of the events.
	DefaultMaxStateBytes   = 256 << 20
	DefaultMaxPendingBytes = 256 << 20
	// MaxFieldBytes is the most the correlator keeps of one string of an
	// event (an object name, an image path): longer values are cut at a
	// UTF-8 boundary and end in "…". Windows paths rarely exceed 520 bytes.
	MaxFieldBytes = 4096
)

// Config is the handles: section of the configuration file; the
// correlator uses the bounds, the assembly Enriched and StatsInterval.
// Every limit is hard: reaching it evicts the oldest entry (counted in
// Stats) rather than growing. Zero limits take the Default* values.
type Config struct {
	// Enriched offers the enriched built-in subscription (which also
	// collects 4656, 4661, 4663, 4660, 4688 and 4689) instead of the plain
	// one, and joins 4658, 4660 and 4690 to the objects and processes they
	// refer to. With your own subscriptions, include those events in their
	// queries.
	Enriched bool `yaml:"enriched"`
	// ExportHelperEvents exports 4656, 4663, 4688 and 4689 (with decoded
	// attributes) instead of using them only as state.
	ExportHelperEvents bool `yaml:"export_helper_events"`
	// ExportObjectDeleted exports 4660, which has the same missing object
	// name as 4658; nil means true.
	ExportObjectDeleted *bool `yaml:"export_object_deleted"`

	// ReorderRecords and ReorderTime bound the reorder window. An event
	// waiting for a partner is released, enriched with what is known, once
	// ReorderRecords later events of its host were added (or its
	// EventRecordID is ReorderRecords behind the host's newest), or once
	// ReorderTime passed since it was added, whichever comes first.
	ReorderRecords int           `yaml:"reorder_records"`
	ReorderTime    time.Duration `yaml:"reorder_time"`
	// LateOpenWait extends the window of an event whose open is not known
	// yet (a 4690, or the close of the copy it made): after the reorder
	// window it is held on until its host has logged LateOpenWait of later
	// events (by TimeCreated), or it has been held LateOpenWait in all, or
	// the window is half full (MaxPending or MaxPendingBytes), whichever
	// comes first. Windows logs the open late when the opening process is
	// pre-empted. Events of the same host wait behind it, so this is their
	// latency bound too. Zero: DefaultLateOpenFactor × ReorderTime; a value
	// not above ReorderTime turns the extension off.
	LateOpenWait time.Duration `yaml:"-"`
	// MaxPending caps events buffered over all hosts; beyond it the oldest
	// is released early.
	MaxPending int `yaml:"max_pending"`
	// MaxHandles caps open-handle and duplicated-handle state over all
	// hosts; MaxProcesses caps process state.
	MaxHandles   int `yaml:"max_handles"`
	MaxProcesses int `yaml:"max_processes"`
	// MaxStateBytes caps the estimated memory of handle and process state
	// (bytes, over all hosts); beyond it the oldest entry is evicted.
	// MaxPendingBytes caps the estimated memory of the events in the
	// reorder window; beyond it the oldest is released early.
	MaxStateBytes   int64 `yaml:"max_state_bytes"`
	MaxPendingBytes int64 `yaml:"max_pending_bytes"`
	// HandleMaxAge and ProcessMaxAge evict state not closed (4658) or
	// ended (4689) in time; a process entry's age restarts whenever the
	// process is seen again.
	HandleMaxAge  time.Duration `yaml:"handle_max_age"`
	ProcessMaxAge time.Duration `yaml:"process_max_age"`
	// StatsInterval is how often the enrichment stage logs the
	// correlator's sizes and evictions; 0 never.
	StatsInterval time.Duration `yaml:"stats_interval"`

	Noise NoiseConfig `yaml:"noise"`
}

// DefaultConfig returns the handles: section's defaults: plain (not
// enriched) mode, 4660 exported, sizes logged every 5 minutes, noise off.
func DefaultConfig() Config {
	return Config{ExportObjectDeleted: new(true), StatsInterval: 5 * time.Minute}
}

// Validate checks the section; errors name the key (below handles).
func (c *Config) Validate() error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"reorder_records", int64(c.ReorderRecords)}, {"reorder_time", int64(c.ReorderTime)},
		{"max_pending", int64(c.MaxPending)}, {"max_handles", int64(c.MaxHandles)}, {"max_processes", int64(c.MaxProcesses)},
		{"max_state_bytes", c.MaxStateBytes}, {"max_pending_bytes", c.MaxPendingBytes},
		{"handle_max_age", int64(c.HandleMaxAge)}, {"process_max_age", int64(c.ProcessMaxAge)},
		{"stats_interval", int64(c.StatsInterval)}, {"noise.summary_interval", int64(c.Noise.SummaryInterval)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s must not be negative", f.key)
		}
	}
	if c.Noise.Mode != NoiseOff && len(c.Noise.Rules) == 0 {
		return errors.New("noise: mode tag or drop needs rules naming the objects that are noise")
	}
	return nil
}

func (c *Config) exportObjectDeleted() bool {
	return c.ExportObjectDeleted == nil || *c.ExportObjectDeleted
}

// NoiseMode says what happens to audit by-product pairs.
type NoiseMode uint8

const (
	// NoiseOff exports every pair untouched (the default).
	NoiseOff NoiseMode = iota
	// NoiseTag exports the pairs, marks them with winlog.handle.noise and
	// counts them.
	NoiseTag
	// NoiseDrop does not export the pairs and counts them; the counts come
	// out as summary Outputs.
	NoiseDrop
)

// UnmarshalText reads the mode as the configuration spells it: off, tag or
// drop ("" is off).
func (m *NoiseMode) UnmarshalText(text []byte) error {
	switch string(text) {
	case "", "off":
		*m = NoiseOff
	case "tag":
		*m = NoiseTag
	case "drop":
		*m = NoiseDrop
	default:
		// The YAML decoder adds no path or line to this error: name the key.
		return fmt.Errorf("handles.noise.mode %q is not off, tag or drop", text)
	}
	return nil
}

// MarshalText writes the mode as the configuration spells it.
func (m NoiseMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// String names the mode as it appears in summaries and the configuration.
func (m NoiseMode) String() string {
	switch m {
	case NoiseTag:
		return "tag"
	case NoiseDrop:
		return "drop"
	}
	return "off"
}

// NoiseConfig controls the audit by-product pairs: a 4690 that copies a
// handle into the System process (PID 4) and the 4658 that closes that
// copy. Auditing itself produces one such pair per audited open, so they
// are noise unless the object matters. A pair counts as noise only when the
// object behind it is known, matches a rule, and raised no detection flag.
type NoiseConfig struct {
	Mode  NoiseMode   `yaml:"mode"`
	Rules []NoiseRule `yaml:"rules"`
	// SummaryInterval is how often Tick emits counts as summary Outputs.
	SummaryInterval time.Duration `yaml:"summary_interval"`
	// MaxKeys caps distinct (host, image, object type) counters; beyond it
	// new combinations are counted under host and image "(other)".
	MaxKeys int `yaml:"-"`
}

// NoiseRule matches the object behind a by-product pair. Empty fields match
// anything; patterns compare case-insensitively and '*' stands for any run
// of characters (backslashes are literal, as in Windows paths).
type NoiseRule struct {
	// ObjectType is compared whole ("Key", "File").
	ObjectType string `yaml:"object_type"`
	// ObjectName is a pattern on ObjectName, for example
	// `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\*`.
	ObjectName string `yaml:"object_name"`
	// Image is a pattern on the image of the duplicating process, for
	// example `*\drvinst.exe`.
	Image string `yaml:"image"`
}

// ExampleNoiseRules are the by-product pairs the public samples are full of:
// certificate-store registry keys read by every process that loads crypto.
// They are a starting point for Config.Noise.Rules, not a default.
func ExampleNoiseRules() []NoiseRule {
	return []NoiseRule{
		{ObjectType: "Key", ObjectName: `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\*`},
		{ObjectType: "Key", ObjectName: `\REGISTRY\MACHINE\SOFTWARE\Policies\Microsoft\SystemCertificates\*`},
		{ObjectType: "Key", ObjectName: `\REGISTRY\MACHINE\SOFTWARE\Microsoft\EnterpriseCertificates\*`},
	}
}

func (r NoiseRule) matches(objectType, objectName, image string) bool {
	return (r.ObjectType == "" || strings.EqualFold(r.ObjectType, objectType)) &&
		(r.ObjectName == "" || glob.Match(r.ObjectName, objectName)) &&
		(r.Image == "" || glob.Match(r.Image, image))
}

func (cfg Config) withDefaults() Config {
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&cfg.ReorderRecords, DefaultReorderRecords)
	setDur(&cfg.ReorderTime, DefaultReorderTime)
	setDur(&cfg.LateOpenWait, DefaultLateOpenFactor*cfg.ReorderTime)
	setInt(&cfg.MaxPending, DefaultMaxPending)
	setInt(&cfg.MaxHandles, DefaultMaxHandles)
	setInt(&cfg.MaxProcesses, DefaultMaxProcesses)
	if cfg.MaxStateBytes <= 0 {
		cfg.MaxStateBytes = DefaultMaxStateBytes
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	setDur(&cfg.HandleMaxAge, DefaultHandleMaxAge)
	setDur(&cfg.ProcessMaxAge, DefaultProcessMaxAge)
	setDur(&cfg.Noise.SummaryInterval, DefaultSummaryInterval)
	setInt(&cfg.Noise.MaxKeys, DefaultMaxNoiseKeys)
	cfg.Noise.Rules = append([]NoiseRule(nil), cfg.Noise.Rules...)
	return cfg
}
