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
	"time"

	"gopkg.in/yaml.v3"

	"wefgate/certs"
	"wefgate/exporters/mapping"
	"wefgate/internal/accesslog"
	"wefgate/internal/admin"
	"wefgate/internal/proxyheader"
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
	// MaxBodyBytes caps one request body as received.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`

	HTTPS HTTPSListener `yaml:"https"`
	HTTP  HTTPListener  `yaml:"http"`

	Subscriptions []subscriptions.Definition `yaml:"subscriptions"`

	Handles   Handles          `yaml:"handles"`
	Exporters Exporters        `yaml:"exporters"`
	Spool     Spool            `yaml:"spool"`
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

// HTTPSListener is the client-certificate listener (GPO URL https://…,IssuerCA=…).
type HTTPSListener struct {
	Enabled *bool  `yaml:"enabled"`
	Address string `yaml:"address"`
	// AdvertisedPort is the port forwarders connect to, when a load
	// balancer or NAT changes it; defaults to the listening port.
	AdvertisedPort int `yaml:"advertised_port"`
	// ServerCert and ServerKey default to the development PKI in DataDir.
	ServerCert string `yaml:"server_cert"`
	ServerKey  string `yaml:"server_key"`
	// CAFiles hold the roots and issuing CAs client certificates chain to;
	// defaults to the development PKI's.
	CAFiles  []string `yaml:"ca_files"`
	CRLFiles []string `yaml:"crl_files"`
	// CipherSuites are the TLS 1.2 suites offered (crypto/tls names);
	// empty means AEAD suites only (certs.AEADCipherSuites).
	CipherSuites []string `yaml:"cipher_suites"`
}

// HTTPListener is the Kerberos listener (GPO URL http://…).
type HTTPListener struct {
	Enabled        *bool  `yaml:"enabled"`
	Address        string `yaml:"address"`
	AdvertisedPort int    `yaml:"advertised_port"`
	// Keytab holds the keys of HTTP/<hostname> and HOST/<hostname>.
	Keytab string `yaml:"keytab"`
}

// Handles configures the enrichment of handle-manipulation events.
type Handles struct {
	// Enriched offers the enriched built-in subscription (which also
	// collects 4656, 4661, 4663, 4660, 4688 and 4689) instead of the plain
	// one, and joins 4658, 4660 and 4690 to the objects and processes they
	// refer to. With your own subscriptions, include those events in their
	// queries.
	Enriched bool `yaml:"enriched"`
	// ExportHelperEvents exports the helper events too (decoded), instead
	// of using them only as state.
	ExportHelperEvents bool `yaml:"export_helper_events"`
	// ExportObjectDeleted exports 4660, which has the same gap as 4658.
	ExportObjectDeleted *bool `yaml:"export_object_deleted"`
	// ReorderRecords and ReorderTime bound how long an event may wait for
	// its partner (in later records of its host, and in time).
	ReorderRecords int           `yaml:"reorder_records"`
	ReorderTime    time.Duration `yaml:"reorder_time"`
	// MaxPending, MaxHandles and MaxProcesses are hard memory bounds.
	MaxPending   int `yaml:"max_pending"`
	MaxHandles   int `yaml:"max_handles"`
	MaxProcesses int `yaml:"max_processes"`
	// MaxStateBytes and MaxPendingBytes bound the correlator's memory in
	// bytes (state, and events in the reorder window); 0 means the default.
	MaxStateBytes   int64         `yaml:"max_state_bytes"`
	MaxPendingBytes int64         `yaml:"max_pending_bytes"`
	HandleMaxAge    time.Duration `yaml:"handle_max_age"`
	ProcessMaxAge   time.Duration `yaml:"process_max_age"`
	// StatsInterval is how often the correlator's sizes are logged.
	StatsInterval time.Duration `yaml:"stats_interval"`
	Noise         HandleNoise   `yaml:"noise"`
}

// HandleNoise controls the audit by-product pairs (a 4690 into the System
// process and the 4658 closing that copy) for objects matching the rules.
type HandleNoise struct {
	// Mode is off (export them), tag (export with winlog.handle.noise) or
	// drop (count them only; counts are exported as summary records).
	Mode            string            `yaml:"mode"`
	Rules           []HandleNoiseRule `yaml:"rules"`
	SummaryInterval time.Duration     `yaml:"summary_interval"`
}

// HandleNoiseRule matches the object behind a by-product pair; '*' matches
// any run of characters, comparisons ignore case, empty fields match all.
type HandleNoiseRule struct {
	ObjectType string `yaml:"object_type"`
	ObjectName string `yaml:"object_name"`
	Image      string `yaml:"image"`
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
	// IncludeOriginal adds the original event XML (log.record.original).
	IncludeOriginal bool `yaml:"include_original"`
	// Mapping is the record mapping's own configuration (exporters.schema).
	Mapping mapping.Config `yaml:",inline"`
}

// FileExporter writes JSON lines.
type FileExporter struct {
	// Enabled defaults to true unless an OTLP endpoint is configured.
	Enabled *bool  `yaml:"enabled"`
	Path    string `yaml:"path"`
}

// OTLPExporter sends OTLP logs. It is on when Endpoint is set here or in
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_LOGS_ENDPOINT.
type OTLPExporter struct {
	Enabled *bool `yaml:"enabled"`
	// Protocol is "grpc" or "http/protobuf" (default: OTEL_EXPORTER_OTLP_PROTOCOL,
	// else http/protobuf as the OTLP specification says).
	Protocol    string            `yaml:"protocol"`
	Endpoint    string            `yaml:"endpoint"`
	Insecure    bool              `yaml:"insecure"`
	Headers     map[string]string `yaml:"headers"`
	CAFile      string            `yaml:"ca_file"`
	CertFile    string            `yaml:"cert_file"`
	KeyFile     string            `yaml:"key_file"`
	Compression string            `yaml:"compression"`
	Timeout     time.Duration     `yaml:"timeout"`
	// MaxRequestBytes keeps requests under the backend's limit (gRPC
	// receivers refuse more than 4 MiB by default).
	MaxRequestBytes int `yaml:"max_request_bytes"`
}

// Spool is the durable buffer between the endpoint and the exporters.
type Spool struct {
	// Enabled defaults to true; without it a batch is acknowledged only
	// once every exporter confirmed it (and refused while one is down).
	Enabled *bool  `yaml:"enabled"`
	Dir     string `yaml:"dir"`
	// MaxBytes bounds the spool on disk; when full, forwarders are told to
	// retry later and keep events in their own logs.
	MaxBytes     int64  `yaml:"max_bytes"`
	SegmentBytes int64  `yaml:"segment_bytes"`
	Compression  string `yaml:"compression"`
}

// Log configures wefgate's own logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
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
	cfg := &Config{}
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

func (c *Config) normalize() error {
	if c.DataDir == "" {
		c.DataDir = "wefgate-data"
	}
	if c.Node.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.Node.Name = h
	}
	if c.State.Backend == "" {
		c.State.Backend = subscriptions.DefaultState().Backend
	}
	if err := c.State.Validate(); err != nil {
		return err
	}
	if c.ProxyProtocol.HeaderTimeout == 0 {
		c.ProxyProtocol.HeaderTimeout = proxyheader.DefaultHeaderTimeout
	}
	if err := c.ProxyProtocol.Validate(); err != nil {
		return err
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.Hostname = h
	}
	c.Hostname = strings.ToLower(c.Hostname)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes must not be negative")
	}
	if c.HTTPS.Address == "" {
		c.HTTPS.Address = ":5986"
	}
	if c.HTTP.Address == "" {
		c.HTTP.Address = ":5985"
	}
	if c.HTTP.Enabled == nil {
		on := c.HTTP.Keytab != ""
		c.HTTP.Enabled = &on
	}
	if c.HTTPS.Enabled == nil {
		on := true
		c.HTTPS.Enabled = &on
	}
	if !*c.HTTPS.Enabled && !*c.HTTP.Enabled {
		return errors.New("both listeners are disabled: enable https or http")
	}
	if *c.HTTP.Enabled && c.HTTP.Keytab == "" {
		return errors.New("http: the Kerberos listener needs a keytab")
	}
	if (c.HTTPS.ServerCert == "") != (c.HTTPS.ServerKey == "") {
		return errors.New("https: set both server_cert and server_key, or neither")
	}
	if _, err := certs.ParseCipherSuites(c.HTTPS.CipherSuites); err != nil {
		return fmt.Errorf("https.cipher_suites: %w", err)
	}
	if c.HTTPS.ServerCert != "" && len(c.HTTPS.CAFiles) == 0 {
		return errors.New("https: ca_files is required with your own server certificate")
	}
	for _, l := range []struct {
		name, addr string
		port       int
	}{{"https", c.HTTPS.Address, c.HTTPS.AdvertisedPort}, {"http", c.HTTP.Address, c.HTTP.AdvertisedPort}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return fmt.Errorf("%s: address %q: %w", l.name, l.addr, err)
		}
		if l.port < 0 || l.port > 65535 {
			return fmt.Errorf("%s: advertised_port %d out of range", l.name, l.port)
		}
	}
	if len(c.Subscriptions) == 0 {
		if c.Handles.Enriched {
			c.Subscriptions = []subscriptions.Definition{EnrichedSubscription()}
		} else {
			c.Subscriptions = []subscriptions.Definition{DefaultSubscription()}
		}
	}
	switch c.Handles.Noise.Mode {
	case "":
		c.Handles.Noise.Mode = "off"
	case "off", "tag", "drop":
	default:
		return fmt.Errorf("handles.noise.mode %q is not off, tag or drop", c.Handles.Noise.Mode)
	}
	if c.Handles.Noise.Mode != "off" && len(c.Handles.Noise.Rules) == 0 {
		return errors.New("handles.noise: mode tag or drop needs rules naming the objects that are noise")
	}
	if c.Handles.ExportObjectDeleted == nil {
		on := true
		c.Handles.ExportObjectDeleted = &on
	}
	if c.Handles.MaxStateBytes < 0 || c.Handles.MaxPendingBytes < 0 {
		return errors.New("handles: max_state_bytes and max_pending_bytes must not be negative")
	}
	if c.Handles.StatsInterval == 0 {
		c.Handles.StatsInterval = 5 * time.Minute
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
	if c.Exporters.OTLP.Endpoint == "" && c.Exporters.OTLP.Enabled == nil {
		on := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") != ""
		c.Exporters.OTLP.Enabled = &on
	}
	if c.Exporters.OTLP.Enabled == nil {
		on := true
		c.Exporters.OTLP.Enabled = &on
	}
	switch c.Exporters.OTLP.Protocol {
	case "", "grpc", "http/protobuf":
	default:
		return fmt.Errorf("exporters.otlp.protocol %q is neither grpc nor http/protobuf", c.Exporters.OTLP.Protocol)
	}
	if err := c.Exporters.Mapping.Validate(); err != nil {
		return fmt.Errorf("exporters: %w", err)
	}
	if c.Exporters.File.Enabled == nil {
		on := !*c.Exporters.OTLP.Enabled
		c.Exporters.File.Enabled = &on
	}
	if c.Exporters.File.Path == "" {
		c.Exporters.File.Path = filepath.Join(c.DataDir, "events.jsonl")
	}
	if !*c.Exporters.File.Enabled && !*c.Exporters.OTLP.Enabled {
		return errors.New("exporters: no exporter enabled")
	}
	if c.Spool.Enabled == nil {
		on := true
		c.Spool.Enabled = &on
	}
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.DataDir, "spool")
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = 1 << 30
	}
	if c.Spool.MaxBytes < 0 || c.Spool.SegmentBytes < 0 {
		return errors.New("spool: max_bytes and segment_bytes must not be negative")
	}
	switch c.Spool.Compression {
	case "", "zstd", "s2", "none":
	default:
		return fmt.Errorf("spool.compression %q is not zstd, s2 or none", c.Spool.Compression)
	}
	switch c.Exporters.OTLP.Compression {
	case "", "gzip", "none":
	default:
		return fmt.Errorf("exporters.otlp.compression %q is neither gzip nor none", c.Exporters.OTLP.Compression)
	}
	if c.Exporters.OTLP.Timeout < 0 || c.Exporters.OTLP.MaxRequestBytes < 0 {
		return errors.New("exporters.otlp: timeout and max_request_bytes must not be negative")
	}
	if err := c.Admin.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.AccessLog.Validate(); err != nil {
		return err
	}
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q is neither text nor json", c.Log.Format)
	}
	return nil
}

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
