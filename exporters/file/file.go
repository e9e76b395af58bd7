// Package file is an exporter that appends records to a local file as JSON
// lines, one record per line, with keys named like the OTLP log data model.
// It is meant for hosts that ship files with another agent and for audits:
// each Export is fsynced before it returns, and the file is reopened when
// log rotation moved or removed it.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"wefgate/record"
)

// Options tunes the exporter. The zero value is usable.
type Options struct {
	// Name is what Name returns (default "file").
	Name string
	// Mode is the permission of a newly created file (default 0640).
	Mode fs.FileMode
}

// Exporter appends JSON lines to one file. It implements
// pipeline.Exporter.
type Exporter struct {
	path string
	name string
	mode fs.FileMode

	mu     sync.Mutex
	f      *os.File
	closed bool
	// buf and keys are kept from export to export (under mu).
	buf  bytes.Buffer
	keys []string
}

// maxKeptBuffer is the largest encoding buffer kept for the next export.
const maxKeptBuffer = 16 << 20

// New opens (creating if needed) the file at path for appending.
func New(path string, opts Options) (*Exporter, error) {
	if path == "" {
		return nil, errors.New("file exporter: empty path")
	}
	e := &Exporter{path: path, name: opts.Name, mode: opts.Mode}
	if e.name == "" {
		e.name = "file"
	}
	if e.mode == 0 {
		e.mode = 0o640
	}
	if err := e.open(); err != nil {
		return nil, err
	}
	return e, nil
}

// Name returns the configured exporter name.
func (e *Exporter) Name() string { return e.name }

// Export appends one line per record and fsyncs. On a failed write the file
// is truncated back to where it was, so a retry never leaves half a line in
// front of the next record.
func (e *Exporter) Export(ctx context.Context, records []record.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file exporter: %w", err)
	}
	if len(records) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	buf := &e.buf
	buf.Reset()
	defer func() {
		if buf.Cap() > maxKeptBuffer {
			*buf = bytes.Buffer{}
		}
	}()
	for i := range records {
		encodeRecord(buf, &records[i], &e.keys)
		buf.WriteByte('\n')
	}
	if e.closed {
		return errors.New("file exporter: closed")
	}
	if err := e.ensureOpen(); err != nil {
		return err
	}
	info, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("file exporter: stat %s: %w", e.path, err)
	}
	if _, err := e.f.Write(buf.Bytes()); err != nil {
		if terr := e.f.Truncate(info.Size()); terr != nil {
			err = errors.Join(err, fmt.Errorf("undo partial write: %w", terr))
		}
		return fmt.Errorf("file exporter: write %s: %w", e.path, err)
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("file exporter: sync %s: %w", e.path, err)
	}
	return nil
}

// Close closes the file. Export fails afterwards.
func (e *Exporter) Close(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.f == nil {
		return nil
	}
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("file exporter: close %s: %w", e.path, err)
	}
	return nil
}

// open opens the path for appending. When it creates the file it also syncs
// the directory, so the new name survives a crash along with the data.
func (e *Exporter) open() error {
	_, statErr := os.Stat(e.path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, e.mode)
	if err != nil {
		return fmt.Errorf("file exporter: open %s: %w", e.path, err)
	}
	if created {
		if err := syncDir(filepath.Dir(e.path)); err != nil {
			f.Close()
			return fmt.Errorf("file exporter: %w", err)
		}
	}
	e.f = f
	return nil
}

// ensureOpen reopens the path when log rotation renamed or removed the open
// file (writing on to the old inode would put records where nobody looks),
// or when an earlier reopen failed.
func (e *Exporter) ensureOpen() error {
	if e.f != nil {
		current, err := e.f.Stat()
		if err != nil {
			return fmt.Errorf("file exporter: stat open file: %w", err)
		}
		named, err := os.Stat(e.path)
		switch {
		case err == nil && os.SameFile(current, named):
			return nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("file exporter: stat %s: %w", e.path, err)
		}
		// The old file is complete and synced; a failing close loses nothing.
		_ = e.f.Close()
		e.f = nil
	}
	return e.open()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
