package kerberos

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// keyEntry is one keytab key, detached from gokrb5's keytab type.
type keyEntry struct {
	principal string // e.g. HTTP/wec.example.test@EXAMPLE.TEST
	kvno      uint32
	key       types.EncryptionKey
}

func entriesFromKeytab(kt *keytab.Keytab) []keyEntry {
	out := make([]keyEntry, 0, len(kt.Entries))
	for _, e := range kt.Entries {
		out = append(out, keyEntry{
			principal: strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm,
			kvno:      e.KVNO,
			key:       e.Key,
		})
	}
	return out
}

// keytabFile is a keytab that is re-read when the file changes, so that a
// rotated service-account key takes effect without a restart.
type keytabFile struct {
	path          string
	checkInterval time.Duration
	now           func() time.Time
	logger        *slog.Logger

	mu        sync.Mutex
	entries   []keyEntry
	modTime   time.Time
	size      int64
	lastCheck time.Time
}

func loadKeytabFile(path string, checkInterval time.Duration, now func() time.Time, logger *slog.Logger) (*keytabFile, error) {
	f := &keytabFile{path: path, checkInterval: checkInterval, now: now, logger: logger}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keytab: %w", err)
	}
	if err := f.load(fi); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *keytabFile) load(fi os.FileInfo) error {
	kt, err := keytab.Load(f.path)
	if err != nil {
		return fmt.Errorf("load keytab %s: %w", f.path, err)
	}
	entries := entriesFromKeytab(kt)
	if len(entries) == 0 {
		return fmt.Errorf("load keytab %s: no keys", f.path)
	}
	f.entries, f.modTime, f.size, f.lastCheck = entries, fi.ModTime(), fi.Size(), f.now()
	return nil
}

// current returns the keytab entries, reloading the file if its mtime or
// size changed since the last check. Checks are at most one per
// checkInterval. A failed reload keeps the previous keys: a keytab being
// rewritten in place must not lock every client out.
func (f *keytabFile) current() []keyEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.lastCheck) < f.checkInterval {
		return f.entries
	}
	f.lastCheck = now
	fi, err := os.Stat(f.path)
	if err != nil {
		f.logger.Warn("keytab check failed, keeping loaded keys", "keytab", f.path, "error", err)
		return f.entries
	}
	if fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.entries
	}
	if err := f.load(fi); err != nil {
		f.logger.Warn("keytab reload failed, keeping loaded keys", "keytab", f.path, "error", err)
		return f.entries
	}
	f.logger.Info("keytab reloaded", "keytab", f.path, "keys", len(f.entries))
	return f.entries
}
