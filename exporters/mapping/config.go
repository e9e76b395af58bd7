package mapping

import "fmt"

// Schema names the attribute set a record carries.
type Schema string

const (
	// SchemaOTel is wefgate's own attribute set: OpenTelemetry semantic
	// conventions where one exists, the windowseventlogreceiver body.
	SchemaOTel Schema = "otel"
	// SchemaECS carries the Elastic Common Schema and winlog.* fields that
	// winlogbeat and Elastic's Windows security ingest pipeline produce,
	// so Elastic's rules and dashboards work unchanged.
	SchemaECS Schema = "ecs"
)

// Config is the mapping's part of the exporters section; config.Config
// inlines it there, so its keys read exporters.<key>.
type Config struct {
	// Schema is otel (the default) or ecs; it applies to every exporter.
	// Empty means SchemaOTel.
	Schema Schema `yaml:"schema"`
	// IncludeOriginal adds the event XML as attribute log.record.original
	// (event.original in the ecs schema).
	IncludeOriginal bool `yaml:"include_original"`
}

// DefaultConfig returns the defaults: the otel schema.
func DefaultConfig() Config { return Config{Schema: SchemaOTel} }

// Validate checks the values and fills in the defaults left empty. Errors
// name the offending key.
func (c *Config) Validate() error {
	switch c.Schema {
	case "":
		c.Schema = SchemaOTel
	case SchemaOTel, SchemaECS:
	default:
		return fmt.Errorf("schema: %q is neither %q nor %q", c.Schema, SchemaOTel, SchemaECS)
	}
	return nil
}

// ScopeAttributes are the instrumentation-scope attributes OTLP records
// of schema s carry. For ecs that is elastic.mapping.mode=ecs: Elastic's
// OTLP intake (the Elasticsearch exporter of the EDOT Collector and of
// Elastic Cloud's managed OTLP endpoint) then stores attributes as
// top-level ECS fields and routes by data_stream.dataset without the
// ".otel" suffix of its OTel-native mode.
func (s Schema) ScopeAttributes() map[string]string {
	if s == SchemaECS {
		return map[string]string{"elastic.mapping.mode": "ecs"}
	}
	return nil
}
