package otlp

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"wefgate/record"
)

// scopeName is the instrumentation scope of every record wefgate exports.
const scopeName = "wefgate"

// captureKey marks the context value carrying the batch being assembled.
type captureKey struct{}

// captured collects the records emitted for one export.
type captured struct {
	mu      sync.Mutex
	records []sdklog.Record
}

// capture is a Processor that hands every emitted record (which carries its
// provider's Resource) to the batch in the emitting context. The SDK allows
// a processor on one provider only, so each host gets its own instance.
type capture struct{}

func (capture) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (capture) Shutdown(context.Context) error                         { return nil }
func (capture) ForceFlush(context.Context) error                       { return nil }

func (capture) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if b, ok := ctx.Value(captureKey{}).(*captured); ok {
		b.mu.Lock()
		b.records = append(b.records, r.Clone())
		b.mu.Unlock()
	}
	return nil
}

// hostEntry is one cached host: its provider and the logger emitting
// through it.
type hostEntry struct {
	host     string
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
}

// hostCache keeps one LoggerProvider per Windows host, evicting the least
// recently used beyond max. Only Export (serialised by the exporter) uses it.
type hostCache struct {
	max             int
	serviceName     string
	serviceInstance string
	scope           []otellog.LoggerOption
	order           *list.List // of *hostEntry, most recent first
	byHost          map[string]*list.Element
}

func newHostCache(max int, serviceName, serviceInstance string, scopeAttrs map[string]string) *hostCache {
	var scope []otellog.LoggerOption
	if len(scopeAttrs) > 0 {
		kvs := make([]attribute.KeyValue, 0, len(scopeAttrs))
		for k, v := range scopeAttrs {
			kvs = append(kvs, attribute.String(k, v))
		}
		scope = append(scope, otellog.WithInstrumentationAttributes(kvs...))
	}
	return &hostCache{
		scope:           scope,
		max:             max,
		serviceName:     serviceName,
		serviceInstance: serviceInstance,
		order:           list.New(),
		byHost:          make(map[string]*list.Element),
	}
}

// logger returns the logger whose records carry host's Resource.
func (c *hostCache) logger(ctx context.Context, host string) otellog.Logger {
	if el, ok := c.byHost[host]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*hostEntry).logger
	}
	attrs := []attribute.KeyValue{
		semconv.ServiceName(c.serviceName),
		semconv.HostName(host),
		semconv.OSTypeWindows,
	}
	if c.serviceInstance != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(c.serviceInstance))
	}
	provider := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewWithAttributes(semconv.SchemaURL, attrs...)),
		sdklog.WithProcessor(capture{}),
	)
	e := &hostEntry{host: host, provider: provider, logger: provider.Logger(scopeName, c.scope...)}
	c.byHost[host] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		old := oldest.Value.(*hostEntry)
		delete(c.byHost, old.host)
		// The capture processor holds nothing, so shutting down cannot
		// lose data; the error is not actionable.
		_ = old.provider.Shutdown(ctx)
	}
	return e.logger
}

func (c *hostCache) len() int { return c.order.Len() }

func (c *hostCache) shutdown(ctx context.Context) {
	for el := c.order.Front(); el != nil; el = el.Next() {
		_ = el.Value.(*hostEntry).provider.Shutdown(ctx)
	}
	c.order.Init()
	clear(c.byHost)
}

// emit converts records to SDK records, each carrying its host's Resource.
func (c *hostCache) emit(ctx context.Context, recs []record.Record) []sdklog.Record {
	batch := &captured{records: make([]sdklog.Record, 0, len(recs))}
	bctx := context.WithValue(ctx, captureKey{}, batch)
	for i := range recs {
		r := &recs[i]
		c.logger(ctx, r.HostName).Emit(bctx, toLogRecord(r))
	}
	return batch.records
}

func toLogRecord(r *record.Record) otellog.Record {
	var lr otellog.Record
	lr.SetTimestamp(r.Timestamp)
	lr.SetObservedTimestamp(r.Observed)
	lr.SetSeverity(otellog.Severity(r.SeverityNumber))
	lr.SetSeverityText(r.SeverityText)
	lr.SetEventName(r.EventName)
	lr.SetBody(toValue(r.Body))
	attrs := make([]attribute.KeyValue, len(r.Attributes))
	for i, kv := range r.Attributes {
		attrs[i] = attribute.KeyValue{Key: attribute.Key(kv.Key), Value: toValue(kv.Value)}
	}
	lr.AddAttributes(attrs...)
	return lr
}

// toValue converts the value kinds record.KV allows. Anything else is
// outside that contract; it is sent as its string form rather than lost.
func toValue(v any) attribute.Value {
	switch v := v.(type) {
	case nil:
		return attribute.Value{}
	case string:
		return attribute.StringValue(v)
	case int64:
		return attribute.Int64Value(v)
	case int:
		return attribute.IntValue(v)
	case float64:
		return attribute.Float64Value(v)
	case bool:
		return attribute.BoolValue(v)
	case []string:
		return attribute.StringSliceValue(v)
	case []any:
		vals := make([]attribute.Value, len(v))
		for i, item := range v {
			vals[i] = toValue(item)
		}
		return attribute.SliceValue(vals...)
	case map[string]any:
		kvs := make([]attribute.KeyValue, 0, len(v))
		for k, item := range v {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: toValue(item)})
		}
		return attribute.MapValue(kvs...)
	default:
		return attribute.StringValue(fmt.Sprint(v))
	}
}
