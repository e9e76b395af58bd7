// Package ratelog keeps what a hostile client can make wefgate log
// bounded: at most one line per reason and source per interval, the lines
// held back counted and reported on the next line written, and every value
// an attacker controls truncated. The full counts belong in counters; the
// log names who and why.
package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults of New's zero arguments.
const (
	DefaultInterval = 10 * time.Second
	DefaultMaxKeys  = 4096
	// MaxValueBytes is how much of a client-controlled value goes into a
	// log line (see Clip).
	MaxValueBytes = 256
)

// OtherSource is the reason and source lines are counted under once
// MaxKeys distinct keys are tracked.
const OtherSource = "(other)"

// Limiter decides which lines are written. It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu   sync.Mutex
	keys map[key]*entry

	suppressed atomic.Uint64
}

type key struct{ reason, source string }

type entry struct {
	last       time.Time
	suppressed uint64
}

// New returns a limiter letting one line per (reason, source) through per
// interval, tracking at most maxKeys keys; zero arguments take the
// defaults. now is the clock (nil: time.Now).
func New(interval time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{interval: interval, maxKeys: maxKeys, now: now, keys: make(map[key]*entry)}
}

// Allow reports whether a line for reason and source may be written now
// and, if so, how many lines for that key were held back since the last
// one written. A nil Limiter allows everything.
func (l *Limiter) Allow(reason, source string) (ok bool, suppressed uint64) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key{reason, source}
	e := l.keys[k]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			l.prune(now)
		}
		if len(l.keys) >= l.maxKeys {
			// One shared key, so that varied reasons or sources cannot
			// grow the map either.
			k = key{OtherSource, OtherSource}
			e = l.keys[k]
		}
		if e == nil {
			e = &entry{}
			l.keys[k] = e
		}
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.interval {
		e.suppressed++
		l.suppressed.Add(1)
		return false, 0
	}
	e.last, suppressed, e.suppressed = now, e.suppressed, 0
	return true, suppressed
}

// prune forgets keys quiet for an interval; their held-back counts are
// lost to the log but not to the caller's counters.
func (l *Limiter) prune(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.interval {
			delete(l.keys, k)
		}
	}
}

// Suppressed is the number of lines held back since the start.
func (l *Limiter) Suppressed() uint64 {
	if l == nil {
		return 0
	}
	return l.suppressed.Load()
}

// Log writes msg at level with attrs when Allow lets it through, adding
// reason (as "reason") and "suppressed" (lines held back for this reason
// and source) when some were. attrs should name the source.
func (l *Limiter) Log(logger *slog.Logger, level slog.Level, msg, reason, source string, attrs ...any) {
	ok, n := l.Allow(reason, source)
	if !ok || !logger.Enabled(context.Background(), level) {
		return
	}
	attrs = append(attrs, "reason", Clip(reason))
	if n > 0 {
		attrs = append(attrs, "suppressed", n)
	}
	logger.Log(context.Background(), level, msg, attrs...)
}

// Clip returns s cut to MaxValueBytes at a UTF-8 boundary, saying how
// long it was when it had to be cut: a 400 KB MachineID becomes 256 bytes
// and "…(409600 bytes)".
func Clip(s string) string {
	if len(s) <= MaxValueBytes {
		return s
	}
	cut := MaxValueBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
