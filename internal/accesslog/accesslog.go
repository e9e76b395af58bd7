// Package accesslog writes one line per WS-Management request (a
// server.Observer): remote address, identity, action, subscription, status,
// body bytes in and out, and duration. It is off by default because the
// service log already names every refusal; turn it on to see the traffic
// itself.
package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"wefgate/wef/server"
)

// Config is the access_log section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Path is a file to append to; empty writes the lines to the service
	// log (at level info, in its format).
	Path string `yaml:"path"`
	// Format of the file: text (logfmt, the default) or json.
	Format string `yaml:"format"`
}

// DefaultConfig is the access log off.
func DefaultConfig() Config { return Config{} }

// Validate checks the keys; errors name them.
func (c *Config) Validate() error {
	switch c.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("access_log.format %q is neither text nor json", c.Format)
	}
	if !c.Enabled && c.Path != "" {
		return errors.New("access_log.path is set but access_log.enabled is false")
	}
	return nil
}

// Log is an open access log.
type Log struct {
	mu     sync.Mutex
	file   *os.File // nil when writing to the service log's writer
	path   string
	json   bool
	logger *slog.Logger
}

// Open starts the access log; service receives the lines when no path is
// configured. Close it when done.
func Open(c Config, service *slog.Logger) (*Log, error) {
	l := &Log{path: c.Path, json: c.Format == "json", logger: service}
	if c.Path != "" {
		if err := os.MkdirAll(filepath.Dir(c.Path), 0o750); err != nil {
			return nil, fmt.Errorf("access_log.path: %w", err)
		}
		f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("access_log.path: %w", err)
		}
		l.file, l.logger = f, l.newLogger(f)
	}
	return l, nil
}

func (l *Log) newLogger(w io.Writer) *slog.Logger {
	if l.json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// Reopen reopens the file (after logrotate moved it); a no-op without one.
// It holds the lock throughout, so a Close at shutdown cannot race it and
// a closed log stays closed; reloads are rare, a request line waits at most
// for one open.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("access log: reopen: %w", err)
	}
	old := l.file
	l.file, l.logger = f, l.newLogger(f)
	return old.Close()
}

// Close closes the file, if any.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	l.logger = slog.New(slog.DiscardHandler)
	return err
}

// ObserveRequest implements server.Observer.
func (l *Log) ObserveRequest(ri *server.RequestInfo) {
	attrs := []slog.Attr{
		slog.String("listener", ri.Listener),
		slog.String("remote", ri.Remote),
		slog.String("identity", ri.Identity),
		slog.String("action", ri.Action),
		slog.Int("status", ri.Status),
		slog.Int64("bytes_in", ri.BytesIn),
		slog.Int64("bytes_out", ri.BytesOut),
		slog.Float64("duration_ms", float64(ri.Duration.Microseconds())/1000),
	}
	if ri.Subscription != "" {
		attrs = append(attrs, slog.String("subscription", ri.Subscription))
	}
	if ri.Action == server.ActionEvents {
		attrs = append(attrs, slog.Int("events", ri.EventsReceived), slog.Int("kept", ri.EventsKept))
	}
	if ri.AuthRefusal != "" {
		attrs = append(attrs, slog.String("refusal", ri.AuthRefusal))
	}
	l.mu.Lock()
	logger := l.logger
	l.mu.Unlock()
	logger.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

var _ server.Observer = (*Log)(nil)

// Observers fans one request out to several observers.
type Observers []server.Observer

// ObserveRequest implements server.Observer.
func (o Observers) ObserveRequest(ri *server.RequestInfo) {
	for _, x := range o {
		x.ObserveRequest(ri)
	}
}
