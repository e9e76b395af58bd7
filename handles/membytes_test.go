package handles

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"wefgate/wef/event"
)

// bigOpen is a 4656 as a host sends it, parsed the way the pipeline parses
// it (its strings share the raw buffer), padded to about pad bytes with
// PrivilegeList the way a hostile or unusual host could.
func bigOpen(rec, pid, h uint64, pad int) *event.Event {
	xml := fmt.Sprintf(`<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>`+
		`<Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"/>`+
		`<EventID>4656</EventID><Version>1</Version><Level>0</Level><Task>12801</Task><Opcode>0</Opcode>`+
		`<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime="2024-01-02T03:04:05.000Z"/>`+
		`<EventRecordID>%d</EventRecordID><Channel>Security</Channel><Computer>big.example.test</Computer></System>`+
		`<EventData><Data Name="ObjectServer">Security</Data><Data Name="ObjectType">File</Data>`+
		`<Data Name="ObjectName">C:\data\file%d.txt</Data><Data Name="HandleId">%s</Data>`+
		`<Data Name="AccessMask">0x1</Data><Data Name="ProcessId">%s</Data>`+
		`<Data Name="ProcessName">C:\Windows\explorer.exe</Data><Data Name="PrivilegeList">%s</Data></EventData></Event>`,
		rec, rec, hx(h), hx(pid), strings.Repeat("x", pad))
	return event.Parse([]byte(xml))
}

// TestStateKeepsNoRawEvent is the 66 KB-event case of issue 10 part 4: the
// state of 2,000 handles must not keep 2,000 raw events alive.
func TestStateKeepsNoRawEvent(t *testing.T) {
	const n, pad = 2000, 64 << 10
	c := NewCorrelator[uint64](Config{MaxHandles: 10 * n})
	before := heapInUse()
	now := replayStart
	for i := uint64(1); i <= n; i++ {
		c.Add(now, "big.example.test", bigOpen(i, 0x100, i*4, pad), i)
	}
	c.Flush()
	after := heapInUse()
	s := c.Stats()
	if s.Handles != n || s.Pending != 0 {
		t.Fatalf("want %d handles and nothing pending: %+v", n, s)
	}
	// The raw events alone are 128 MiB; the fields kept are a few KiB.
	if grown := int64(after) - int64(before); grown > 8<<20 {
		t.Fatalf("heap grew by %d MiB for %d handles: raw events are retained", grown>>20, n)
	}
	if s.StateBytes <= 0 || s.StateBytes > 2<<20 {
		t.Fatalf("state bytes %d, want a few hundred bytes per handle", s.StateBytes)
	}
	runtime.KeepAlive(c)
}

func TestByteBounds(t *testing.T) {
	long := strings.Repeat(`\very long directory`, 1000) // 20 KB, cut to MaxFieldBytes
	tests := []struct {
		name string
		cfg  Config
		add  func(i uint64) *event.Event
		// check returns an error when a bound is exceeded.
		check func(s Stats, cfg Config) error
		// evicted says which counter the test must see move.
		evicted func(s Stats) uint64
	}{{
		name: "state",
		cfg:  Config{MaxStateBytes: 256 << 10},
		add: func(i uint64) *event.Event {
			if i%2 == 0 {
				return createdEv(i, 0x1000+i, 0x4, long, long)
			}
			return openEv(i, 0x100, i*4, "File", long, 0x1, long)
		},
		check: func(s Stats, cfg Config) error {
			if s.StateBytes > cfg.MaxStateBytes {
				return fmt.Errorf("state bytes %d over %d", s.StateBytes, cfg.MaxStateBytes)
			}
			return nil
		},
		evicted: func(s Stats) uint64 { return s.HandlesEvicted + s.ProcessesEvicted },
	}, {
		name: "pending",
		cfg:  Config{MaxPendingBytes: 1 << 20, ReorderRecords: 1 << 20, ReorderTime: time.Hour},
		add: func(i uint64) *event.Event {
			// 4690s whose source never opens wait for the whole window.
			ev := bigOpen(i, 0x100, i*4, 16<<10)
			ev.EventID = 4690
			ev.EventData = append(ev.EventData, event.Data{Name: "SourceProcessId", Value: "0x100"},
				event.Data{Name: "SourceHandleId", Value: hx(i*4 + 1)})
			return ev
		},
		check: func(s Stats, cfg Config) error {
			if s.PendingBytes > cfg.MaxPendingBytes {
				return fmt.Errorf("pending bytes %d over %d", s.PendingBytes, cfg.MaxPendingBytes)
			}
			return nil
		},
		evicted: func(s Stats) uint64 { return s.PendingForced },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCorrelator[uint64](tt.cfg)
			cfg := c.cfg
			for i := uint64(1); i <= 2000; i++ {
				c.Add(replayStart, "h", tt.add(i), i)
				if err := tt.check(c.Stats(), cfg); err != nil {
					t.Fatalf("after %d events: %v", i, err)
				}
			}
			if tt.evicted(c.Stats()) == 0 {
				t.Fatalf("bound never reached, the test proves nothing: %+v", c.Stats())
			}
			c.Flush()
			if s := c.Stats(); s.PendingBytes != 0 {
				t.Fatalf("pending bytes %d after Flush", s.PendingBytes)
			}
		})
	}
}

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in      string
		wantLen int
	}{
		{"short", 5},
		{strings.Repeat("a", MaxFieldBytes), MaxFieldBytes},
		{strings.Repeat("a", MaxFieldBytes+1), MaxFieldBytes},
		{strings.Repeat("é", MaxFieldBytes), MaxFieldBytes - 1}, // cut between two-byte runes
	} {
		got := clip(tt.in)
		if len(got) != tt.wantLen || !strings.HasPrefix(tt.in, strings.TrimSuffix(got, "…")) {
			t.Errorf("clip(%d bytes) = %d bytes %q…", len(tt.in), len(got), got[:min(len(got), 8)])
		}
	}
}
