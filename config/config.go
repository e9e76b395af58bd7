// Package config reads wefgate's one YAML configuration file. Decoding is
// strict: an unknown key is an error that names it, because a misspelt
// option silently ignored is how collectors lose events. Every field has a
// default, so an empty file (or none) is a working configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"wefgate/exporters/file"
	"wefgate/exporters/mapping"
	"wefgate/exporters/otlp"
	"wefgate/handles"
	"wefgate/internal/accesslog"
	"wefgate/internal/admin"
	"wefgate/internal/proxyheader"
	"wefgate/spool"
	"wefgate/subscriptions"
	"wefgate/wef/server"
)

// Config is the whole file.
type Config struct {
	// DataDir holds the state store, the spool, the development PKI and
	// the default output file.
	DataDir string `yaml:"data_dir"`
	// Hostname is the name forwarders use to reach wefgate: it goes into
	// delivery addresses, the server certificate and the SPNs. Defaults to
	// the machine's host name.
	Hostname string `yaml:"hostname"`
	// hostnameDerived is set when Hostname came from the machine rather
	// than the file: a name that is no DNS name is then a warning (the
	// machine's name is not the operator's mistake), not an error.
	hostnameDerived bool
	// MaxBodyBytes caps one request body as received.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`

	HTTPS server.HTTPSConfig `yaml:"https"`
	HTTP  server.HTTPConfig  `yaml:"http"`

	Subscriptions []subscriptions.Definition `yaml:"subscriptions"`

	Handles   handles.Config   `yaml:"handles"`
	Exporters Exporters        `yaml:"exporters"`
	Spool     spool.Config     `yaml:"spool"`
	Log       Log              `yaml:"log"`
	Admin     admin.Config     `yaml:"admin"`
	AccessLog accesslog.Config `yaml:"access_log"`

	// State is where bookmarks and host states live (bolt or postgres).
	State subscriptions.StateConfig `yaml:"state"`
	// Node names this wefgate among several sharing one state store.
	Node Node `yaml:"node"`
	// ProxyProtocol accepts PROXY headers from trusted load balancers on
	// both listeners.
	ProxyProtocol proxyheader.Config `yaml:"proxy_protocol"`
	// Limits bound what hosts and unauthenticated clients can make the
	// endpoint hold.
	Limits server.Limits `yaml:"limits"`
}

// Node identifies one wefgate node: its name goes into the logs, the
// service.instance.id of exported records and the host states it writes
// ("the node that last saw the host").
type Node struct {
	// Name defaults to the machine's host name.
	Name string `yaml:"name"`
}

// EnrichedSubscription is the built-in subscription of enriched mode: the
// handle events plus what the correlator needs to explain them.
func EnrichedSubscription() subscriptions.Definition {
	return subscriptions.Definition{
		Name: "handle-manipulation-enriched", Channel: "Security",
		XPath: "*[System[(EventID=4656 or EventID=4658 or EventID=4660 or EventID=4661 or EventID=4663 or EventID=4688 or EventID=4689 or EventID=4690)]]",
	}
}

// Exporters lists the outputs; several may be on at once.
type Exporters struct {
	File FileExporter `yaml:"file"`
	OTLP OTLPExporter `yaml:"otlp"`
	// Mapping is the record mapping's own configuration (exporters.schema,
	// exporters.include_original).
	Mapping mapping.Config `yaml:",inline"`
}

// FileExporter writes JSON lines.
type FileExporter struct {
	// Enabled defaults to true unless the OTLP exporter is on.
	Enabled     *bool `yaml:"enabled"`
	file.Config `yaml:",inline"`
}

// OTLPExporter sends OTLP logs. It is on when Endpoint is set here or in
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_LOGS_ENDPOINT.
type OTLPExporter struct {
	Enabled     *bool `yaml:"enabled"`
	otlp.Config `yaml:",inline"`
}

// Log configures wefgate's own logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// DefaultLog returns the log: section's defaults: info, text.
func DefaultLog() Log { return Log{Level: "info", Format: "text"} }

// Validate checks the section; errors name the key.
func (l *Log) Validate() error {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("level %q is not debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		return fmt.Errorf("format %q is neither text nor json", l.Format)
	}
	return nil
}

// Default returns the configuration of an empty file before the rules
// that depend on other settings (listeners, exporters, paths under
// data_dir) are applied: each section's own defaults.
func Default() *Config {
	return &Config{
		DataDir:       "wefgate-data",
		MaxBodyBytes:  1 << 20,
		HTTPS:         server.DefaultHTTPSConfig(),
		HTTP:          server.DefaultHTTPConfig(),
		Handles:       handles.DefaultConfig(),
		Exporters:     Exporters{File: FileExporter{Config: file.DefaultConfig()}, Mapping: mapping.DefaultConfig()},
		Spool:         spool.DefaultConfig(),
		Log:           DefaultLog(),
		Admin:         admin.DefaultConfig(),
		AccessLog:     accesslog.DefaultConfig(),
		State:         subscriptions.DefaultState(),
		ProxyProtocol: proxyheader.Default(),
	}
}

// Load reads the file at path; "" means no file (all defaults).
func Load(path string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	cfg, err := Parse(data)
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, err
	}
	return cfg, nil
}

// Parse decodes YAML text strictly and applies defaults.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// DefaultSubscription is offered when the file defines none: the Audit
// Handle Manipulation events from the Security log.
func DefaultSubscription() subscriptions.Definition {
	return subscriptions.Definition{Name: "handle-manipulation", Channel: "Security", XPath: subscriptions.HandleEventsQuery}
}

// normalize applies the defaults that depend on other settings, validates
// each section (each component's Validate names its keys; the section is
// prefixed here) and checks the rules that span components.
func (c *Config) normalize() error {
	// An absent key means the default subscription; an explicit empty list
	// would leave every host with nothing to do, which is never meant.
	if c.Subscriptions != nil && len(c.Subscriptions) == 0 {
		return errors.New("subscriptions: the list is empty; remove the key for the default subscription, or define at least one")
	}
	c.applyDerivedDefaults()
	for _, sec := range []struct {
		key      string
		validate func() error
	}{
		{"state", c.State.Validate}, {"https", c.HTTPS.Validate}, {"http", c.HTTP.Validate},
		{"handles", c.Handles.Validate}, {"exporters.file", c.Exporters.File.Validate},
		{"exporters.otlp", c.Exporters.OTLP.Validate},
		{"spool", c.Spool.Validate}, {"admin", c.Admin.Validate}, {"access_log", c.AccessLog.Validate},
		{"log", c.Log.Validate}, {"proxy_protocol", c.ProxyProtocol.Validate}, {"limits", c.Limits.Validate},
	} {
		if err := sec.validate(); err != nil {
			return sectionError(sec.key, err)
		}
	}
	if err := c.Exporters.Mapping.Validate(); err != nil {
		return fmt.Errorf("exporters: %w", err)
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes must not be negative")
	}
	if err := checkHostname(c.Hostname); err != nil && !c.hostnameDerived {
		return fmt.Errorf("hostname %q: %w", c.Hostname, err)
	}
	if !*c.HTTPS.Enabled && !*c.HTTP.Enabled {
		return errors.New("both listeners are disabled: enable https or http")
	}
	if !*c.Exporters.File.Enabled && !*c.Exporters.OTLP.Enabled {
		return errors.New("exporters: no exporter enabled")
	}
	if c.Handles.Enriched && !*c.Spool.Enabled {
		// The correlator holds events for a moment; only the spool lets a
		// batch be acknowledged before they are exported.
		return errors.New("handles.enriched needs the spool (spool.enabled: true)")
	}
	seen := map[string]string{}
	for i := range c.Subscriptions {
		d := &c.Subscriptions[i]
		if err := d.Normalize(); err != nil {
			return err
		}
		if prev, dup := seen[d.ID]; dup {
			return fmt.Errorf("subscriptions %q and %q have the same id %s", prev, d.Name, d.ID)
		}
		seen[d.ID] = d.Name
		// The body cap must leave room for the largest envelope a host may
		// send plus multipart and token overhead.
		if int64(d.MaxEnvelopeSize)+4096 > c.MaxBodyBytes {
			return fmt.Errorf("subscription %q: max_envelope_size %d does not fit max_body_bytes %d", d.Name, d.MaxEnvelopeSize, c.MaxBodyBytes)
		}
	}
	return nil
}

// sectionError names the section of a component's error: a component
// starts its message with the key below its section, or with the whole
// key path when it knows where it sits.
func sectionError(section string, err error) error {
	last := section[strings.LastIndexByte(section, '.')+1:]
	if msg := err.Error(); strings.HasPrefix(msg, last+":") || strings.HasPrefix(msg, last+".") {
		return err
	}
	return fmt.Errorf("%s.%w", section, err)
}

// applyDerivedDefaults fills what an empty section cannot default by
// itself: host names, paths under data_dir, the subscriptions of the
// handles mode, and which listeners and exporters are on.
func (c *Config) applyDerivedDefaults() {
	hostname := func() string {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		return h
	}
	if c.DataDir == "" {
		c.DataDir = Default().DataDir
	}
	if c.Node.Name == "" {
		c.Node.Name = hostname()
	}
	if c.Hostname == "" {
		c.Hostname, c.hostnameDerived = hostname(), true
	}
	// A trailing dot (an absolute DNS name) would reach the GPO value and
	// the certificate as written; Windows and SChannel expect none.
	c.Hostname = strings.TrimSuffix(strings.ToLower(c.Hostname), ".")
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = Default().MaxBodyBytes
	}
	if c.HTTP.Enabled == nil {
		c.HTTP.Enabled = new(c.HTTP.Keytab != "")
	}
	if c.HTTPS.Enabled == nil {
		c.HTTPS.Enabled = new(true)
	}
	c.Admin.ApplyDefaults()
	c.Limits.ApplyDefaults()
	if len(c.Subscriptions) == 0 {
		if c.Handles.Enriched {
			c.Subscriptions = []subscriptions.Definition{EnrichedSubscription()}
		} else {
			c.Subscriptions = []subscriptions.Definition{DefaultSubscription()}
		}
	}
	if c.Exporters.OTLP.Enabled == nil {
		c.Exporters.OTLP.Enabled = new(c.Exporters.OTLP.Endpoint != "" ||
			os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") != "")
	}
	if c.Exporters.File.Enabled == nil {
		c.Exporters.File.Enabled = new(!*c.Exporters.OTLP.Enabled)
	}
	if c.Exporters.File.Path == "" {
		c.Exporters.File.Path = filepath.Join(c.DataDir, "events.jsonl")
	}
	if c.Spool.Enabled == nil {
		c.Spool.Enabled = new(true)
	}
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.DataDir, "spool")
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = spool.DefaultMaxBytes
	}
}

// StateFile is the bbolt state store's file under data_dir (state.backend:
// bolt).
func (c *Config) StateFile() string { return filepath.Join(c.DataDir, "state.db") }

// BaseURL is the advertised scheme://host:port of a listener.
func (c *Config) BaseURL(scheme, listenAddr string, advertisedPort int) string {
	port := advertisedPort
	if port == 0 {
		_, p, _ := net.SplitHostPort(listenAddr)
		port, _ = strconv.Atoi(p)
	}
	return scheme + "://" + net.JoinHostPort(c.Hostname, strconv.Itoa(port))
}

// HTTPSBaseURL is the advertised base URL of the HTTPS listener.
func (c *Config) HTTPSBaseURL() string {
	return c.BaseURL("https", c.HTTPS.Address, c.HTTPS.AdvertisedPort)
}

// HTTPBaseURL is the advertised base URL of the Kerberos listener.
func (c *Config) HTTPBaseURL() string {
	return c.BaseURL("http", c.HTTP.Address, c.HTTP.AdvertisedPort)
}

// checkHostname accepts a DNS name (RFC 1123 §2.1: labels of 1–63 letters,
// digits and hyphens, not starting or ending with a hyphen; 253 octets in
// all) or an IP address. The name goes into the GPO value, the delivery
// URLs, the certificate check and the Kerberos SPN, so a pasted URL or
// host:port is refused here rather than discovered at the hosts.
func checkHostname(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if strings.ContainsAny(h, ":/") {
		return errors.New("a host name only, without scheme, port or path")
	}
	if h == "" || len(h) > 253 {
		return errors.New("a DNS name has 1 to 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q is not a DNS label", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("label %q has %q (letters, digits and '-' only)", label, r)
			}
		}
	}
	return nil
}
