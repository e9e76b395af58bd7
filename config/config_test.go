package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/exporters/mapping"
)

func TestDefaults(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "")
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !*cfg.HTTPS.Enabled || *cfg.HTTP.Enabled || cfg.HTTPS.Address != ":5986" {
		t.Errorf("listeners: https %v %s, http %v", *cfg.HTTPS.Enabled, cfg.HTTPS.Address, *cfg.HTTP.Enabled)
	}
	if !*cfg.Exporters.File.Enabled || *cfg.Exporters.OTLP.Enabled || !*cfg.Spool.Enabled {
		t.Errorf("exporters: file %v otlp %v spool %v", *cfg.Exporters.File.Enabled, *cfg.Exporters.OTLP.Enabled, *cfg.Spool.Enabled)
	}
	if len(cfg.Subscriptions) != 1 || cfg.Subscriptions[0].Name != "handle-manipulation" ||
		!strings.Contains(cfg.Subscriptions[0].Query, "EventID=4658 or EventID=4690") {
		t.Fatalf("default subscription %+v", cfg.Subscriptions)
	}
	s := cfg.Subscriptions[0]
	if s.ContentFormat != "Raw" || s.Delivery != "MinLatency" || s.MaxTime != 30*time.Second || s.HeartbeatInterval != time.Hour || s.Compression != "SLDC" {
		t.Errorf("subscription defaults %+v", s)
	}
}

func TestOTLPFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !*cfg.Exporters.OTLP.Enabled || *cfg.Exporters.File.Enabled {
		t.Fatalf("otlp %v file %v", *cfg.Exporters.OTLP.Enabled, *cfg.Exporters.File.Enabled)
	}
}

func TestEnrichedSubscription(t *testing.T) {
	cfg, err := Parse([]byte("handles:\n  enriched: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Subscriptions) != 1 || cfg.Subscriptions[0].Name != "handle-manipulation-enriched" {
		t.Fatalf("subscriptions %+v", cfg.Subscriptions)
	}
	for _, id := range []string{"4656", "4658", "4660", "4663", "4688", "4689", "4690"} {
		if !strings.Contains(cfg.Subscriptions[0].Query, "EventID="+id) {
			t.Errorf("enriched query lacks %s: %s", id, cfg.Subscriptions[0].Query)
		}
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "https:\n  adress: :1\n", "adress"},
		{"unknown top key", "exporter: {}\n", "exporter"},
		{"bad content format", "subscriptions:\n  - name: a\n    content_format: Xml\n", "content_format"},
		{"bad delivery", "subscriptions:\n  - name: a\n    delivery: Fast\n", "delivery"},
		{"custom without max_time", "subscriptions:\n  - name: a\n    delivery: Custom\n", "max_time"},
		{"max_items without custom", "subscriptions:\n  - name: a\n    max_items: 5\n", "Custom"},
		{"no name", "subscriptions:\n  - channel: Security\n", "name"},
		{"duplicate id", "subscriptions:\n  - name: a\n    id: 28FCC206-1336-4E4A-B76B-18B0AB46E585\n  - name: b\n    id: 28fcc206-1336-4e4a-b76b-18b0ab46e585\n", "same id"},
		{"bad id", "subscriptions:\n  - name: a\n    id: nope\n", "GUID"},
		{"query and xpath", "subscriptions:\n  - name: a\n    xpath: '*'\n    query: '<QueryList/>'\n", "either"},
		{"kerberos without keytab", "http:\n  enabled: true\n", "keytab"},
		{"no listener", "https:\n  enabled: false\n", "both listeners"},
		{"cert without key", "https:\n  server_cert: a.pem\n", "server_key"},
		{"envelope over body", "max_body_bytes: 100000\n", "max_envelope_size"},
		{"bad otlp protocol", "exporters:\n  otlp:\n    protocol: thrift\n", "protocol"},
		{"no exporter", "exporters:\n  file:\n    enabled: false\n  otlp:\n    enabled: false\n", "no exporter"},
		{"noise without rules", "handles:\n  noise:\n    mode: drop\n", "rules"},
		{"bad noise mode", "handles:\n  noise:\n    mode: loud\n", "mode"},
		{"bad log level", "log:\n  level: chatty\n", "log.level"},
		{"bad spool compression", "spool:\n  compression: lz4\n", "spool.compression"},
		{"negative spool bound", "spool:\n  max_bytes: -1\n", "negative"},
		{"bad otlp compression", "exporters:\n  otlp:\n    compression: brotli\n", "compression"},
		{"negative body cap", "max_body_bytes: -5\n", "negative"},
		{"hostname with scheme", "hostname: https://wec.corp.example\n", "without scheme"},
		{"hostname with port", "hostname: wec.corp.example:5986\n", "without scheme, port"},
		{"hostname with underscore", "hostname: wec_01.corp.example\n", "letters, digits"},
		{"hostname label too long", "hostname: " + strings.Repeat("a", 64) + ".example\n", "not a DNS label"},
		{"empty subscription list", "subscriptions: []\n", "subscriptions: the list is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %v, want an error mentioning %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	cfg, err := Parse([]byte("hostname: WEC.Corp.Example\nhttps:\n  address: 127.0.0.1:15986\n  advertised_port: 443\nhttp:\n  keytab: k\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.HTTPSBaseURL(); got != "https://wec.corp.example:443" {
		t.Errorf("HTTPSBaseURL = %s", got)
	}
	if got := cfg.HTTPBaseURL(); got != "http://wec.corp.example:5985" {
		t.Errorf("HTTPBaseURL = %s", got)
	}
}

func TestExportersSchema(t *testing.T) {
	tests := []struct {
		yaml    string
		want    mapping.Schema
		wantErr string
	}{
		{"", mapping.SchemaOTel, ""},
		{"exporters: {schema: otel}", mapping.SchemaOTel, ""},
		{"exporters: {schema: ecs}", mapping.SchemaECS, ""},
		{"exporters: {schema: elastic}", "", "exporters: schema"},
	}
	for _, tt := range tests {
		cfg, err := Parse([]byte(tt.yaml))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one naming %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.yaml, err)
			continue
		}
		if cfg.Exporters.Mapping.Schema != tt.want {
			t.Errorf("%q: schema %q, want %q", tt.yaml, cfg.Exporters.Mapping.Schema, tt.want)
		}
	}
}

func TestLogValidate(t *testing.T) {
	tests := []struct {
		log  Log
		want string
	}{
		{DefaultLog(), ""},
		{Log{Level: "debug", Format: "json"}, ""},
		{Log{Level: "chatty", Format: "text"}, `level "chatty" is not debug, info, warn or error`},
		{Log{Level: "info", Format: "xml"}, `format "xml" is neither text nor json`},
	}
	for _, tt := range tests {
		err := tt.log.Validate()
		if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
			t.Errorf("%+v: Validate() = %v, want %q", tt.log, err, tt.want)
		}
	}
}

func TestClusterSections(t *testing.T) {
	cfg, err := Parse([]byte("node:\n  name: node-a\nstate:\n  backend: postgres\n  postgres:\n    url: postgres://wefgate@db.example.test/wefgate\nproxy_protocol:\n  trusted_networks: [10.0.0.5, 10.0.1.0/28]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.Name != "node-a" || cfg.State.Backend != "postgres" || !cfg.ProxyProtocol.Enabled() || cfg.ProxyProtocol.HeaderTimeout == 0 {
		t.Fatalf("%+v %+v %+v", cfg.Node, cfg.State, cfg.ProxyProtocol)
	}
	def, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.Node.Name == "" || def.State.Backend != "bolt" || def.ProxyProtocol.Enabled() {
		t.Fatalf("defaults %+v %+v %+v", def.Node, def.State, def.ProxyProtocol)
	}
}

func TestSectionErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"log:\n  format: xml\n", `log.format "xml" is neither text nor json`},
		{"spool:\n  segment_bytes: -1\n", "spool.segment_bytes -1 must not be negative"},
		{"exporters:\n  otlp:\n    timeout: -1s\n", "exporters.otlp.timeout -1s must not be negative"},
		{"handles:\n  max_pending: -1\n", "handles.max_pending must not be negative"},
		{"https:\n  advertised_port: 70000\n", "https.advertised_port 70000 out of range"},
		{"http:\n  address: nope\n  keytab: k\n", `http.address "nope"`},
		{"handles:\n  enriched: true\nspool:\n  enabled: false\n", "handles.enriched needs the spool"},
		{"state:\n  backend: etcd\n", `state.backend: "etcd" is not bolt or postgres`},
		{"state:\n  backend: postgres\n", "state.postgres.url: required"},
		{"state:\n  backend: postgres\n  postgres:\n    url: 'postgres://h/db'\n    max_connections: -1\n", "state.postgres.max_connections"},
		{"state:\n  backend: postgres\n  postgres:\n    url: 'postgres://h/db'\n    cert_file: c.pem\n", "state.postgres.cert_file and state.postgres.key_file"},
		{"state:\n  postgres:\n    url: 'postgres://h:notaport/db'\n", "state.postgres.url"},
		{"proxy_protocol:\n  trusted_networks: [10.0.0.5, lb.corp]\n", "proxy_protocol.trusted_networks[1]"},
		{"proxy_protocol:\n  header_timeout: -1s\n", "proxy_protocol.header_timeout"},
		{"node:\n  nom: a\n", "field nom not found"},
	}
	for _, tt := range tests {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.yaml, err, tt.want)
		}
	}
}

// TestReadmeExample parses the configuration the README documents, so
// that the reference and the code cannot drift apart unnoticed.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("README's Configuration section has no yaml block")
	}
	block, _, _ := strings.Cut(rest, "\n```")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if _, err := Parse([]byte(block)); err != nil {
		t.Fatalf("the README's configuration does not parse: %v", err)
	}
}

func TestUnknownKeysInComponentSections(t *testing.T) {
	for _, y := range []string{
		"exporters:\n  otlp:\n    endpiont: x\n",
		"exporters:\n  file:\n    pth: x\n",
		"spool:\n  max_byte: 1\n",
		"handles:\n  reorder_record: 1\n",
		"handles:\n  noise:\n    rules:\n      - object: Key\n",
		"https:\n  cipher_suite: []\n",
	} {
		if _, err := Parse([]byte(y)); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("Parse(%q) = %v, want an unknown-key error", y, err)
		}
	}
}

func TestStateWarnings(t *testing.T) {
	cases := []struct {
		url  string
		want []string
	}{
		{"postgres://wefgate@db.example.test/wefgate?sslmode=verify-full", nil},
		{"postgres://wefgate@db.example.test/wefgate?sslmode=verify-ca", nil},
		{"postgres://wefgate@127.0.0.1/wefgate?sslmode=disable", nil},
		{"postgres://wefgate:secret@db.example.test/wefgate?sslmode=verify-full", []string{"carries a password"}},
		{"host=db.example.test user=wefgate password=secret sslmode=verify-full", []string{"carries a password"}},
		{"postgres://wefgate@db.example.test/wefgate?sslmode=require", []string{"not TLS with a verified certificate"}},
		{"postgres://wefgate@db.example.test/wefgate?sslmode=prefer", []string{"not TLS with a verified certificate"}},
	}
	for _, c := range cases {
		t.Setenv("PGSSLMODE", "")
		cfg, err := Parse([]byte("state:\n  backend: postgres\n  postgres:\n    url: '" + c.url + "'\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := cfg.Warnings()
		if len(got) != len(c.want) {
			t.Errorf("%s: warnings %q, want %q", c.url, got, c.want)
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %q, want %q", c.url, got[i], w)
			}
		}
	}
}

// TestDerivedHostnameWarns: a machine name that is no DNS name (an
// underscore) is a warning when hostname is left out, an error when set.
func TestDerivedHostnameWarns(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	cfg := Default()
	cfg.Hostname, cfg.hostnameDerived = "wec_01", true // as if os.Hostname said so
	if err := cfg.normalize(); err != nil {
		t.Fatalf("derived hostname refused: %v", err)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, `"wec_01" is not a DNS name`) {
		t.Fatalf("warnings %q lack the hostname", w)
	}
	if _, err := Parse([]byte("hostname: wec_01\n")); err == nil {
		t.Fatal("hostname set to wec_01 in the file was accepted")
	}
}

func TestHostnameTrailingDot(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	cfg, err := Parse([]byte("hostname: WEC.corp.example.\n"))
	if err != nil || cfg.Hostname != "wec.corp.example" {
		t.Fatalf("hostname %q, %v; want wec.corp.example", cfg.Hostname, err)
	}
}
