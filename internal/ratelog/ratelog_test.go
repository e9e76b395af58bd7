package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterPerReasonAndSource(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(10*time.Second, 3, c.now)
	steps := []struct {
		advance        time.Duration
		reason, source string
		ok             bool
		suppressed     uint64
	}{
		{0, "kerberos", "10.0.0.1", true, 0},
		{0, "kerberos", "10.0.0.1", false, 0},
		{time.Second, "kerberos", "10.0.0.1", false, 0},
		{0, "kerberos", "10.0.0.2", true, 0},    // another source
		{0, "certificate", "10.0.0.1", true, 0}, // another reason
		{10 * time.Second, "kerberos", "10.0.0.1", true, 2},
		{0, "kerberos", "10.0.0.1", false, 0},
		// The map is full: quiet keys are forgotten to make room...
		{0, "kerberos", "10.0.0.9", true, 0},
		{0, "kerberos", "10.0.0.10", true, 0},
		// ...and with three recent keys, new sources share (other).
		{0, "kerberos", "10.0.0.11", true, 0},
		{0, "kerberos", "10.0.0.12", false, 0},
	}
	for i, s := range steps {
		c.t = c.t.Add(s.advance)
		ok, n := l.Allow(s.reason, s.source)
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d (%s %s): ok %v suppressed %d, want %v %d", i, s.reason, s.source, ok, n, s.ok, s.suppressed)
		}
	}
	// New reasons cannot grow the map either.
	if ok, _ := l.Allow("another reason", "10.0.0.13"); ok {
		t.Fatal("a new reason got its own line with the map full")
	}
	if len(l.keys) > 4 {
		t.Fatalf("%d keys tracked", len(l.keys))
	}
	if l.Suppressed() != 5 {
		t.Fatalf("suppressed %d, want 5", l.Suppressed())
	}
}

// TestLogFloodIsBounded is issue 10 part 6: 2,500 refusals a second from
// one client make one line per interval, and the next line says how many
// were held back.
func TestLogFloodIsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(10*time.Second, 0, c.now)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	machineID := strings.Repeat("M", 400<<10)
	for i := 0; i < 2500*20; i++ {
		if i%2500 == 0 && i > 0 {
			c.t = c.t.Add(time.Second)
		}
		l.Log(logger, slog.LevelWarn, "refused request", "Kerberos token refused", "192.0.2.7:50000", "machine_id", Clip(machineID))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines for 20 s of flood, want 2", len(lines))
	}
	if !strings.Contains(lines[1], "suppressed=24999") {
		t.Errorf("second line does not report the held-back count: %.300s", lines[1])
	}
	if len(lines[0]) > 1024 {
		t.Errorf("a line of %d bytes: the MachineID was not clipped", len(lines[0]))
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	got := Clip(long)
	if !strings.HasSuffix(got, "…(600 bytes)") || len(got) > MaxValueBytes+len("…(600 bytes)") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…(600 bytes)")) {
		t.Fatalf("Clip = %q", got)
	}
	if Clip("short") != "short" {
		t.Fatal("short value changed")
	}
}
