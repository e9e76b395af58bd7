package accesslog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/wef/server"
)

func TestFileLinesAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := Open(Config{Enabled: true, Path: path, Format: "json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ri := &server.RequestInfo{
		Listener: "https", Remote: "192.0.2.10:50000", Identity: "win10.corp.example.test", Action: server.ActionEvents,
		Subscription: "handle-manipulation", Status: 200, BytesIn: 4096, BytesOut: 1290, Duration: 18 * time.Millisecond,
		EventsReceived: 53, EventsKept: 12,
	}
	l.ObserveRequest(ri)
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(readFile(t, path))), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "access", "remote": "192.0.2.10:50000", "identity": "win10.corp.example.test", "action": "events",
		"status": 200.0, "bytes_in": 4096.0, "bytes_out": 1290.0, "duration_ms": 18.0, "subscription": "handle-manipulation", "events": 53.0, "kept": 12.0}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}

	// logrotate moves the file, then a reload reopens it.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.ObserveRequest(&server.RequestInfo{Listener: "http", Remote: "192.0.2.11:1", Action: server.ActionNone, Status: 401, AuthRefusal: server.RefusalKerberos})
	if got := readFile(t, path); !strings.Contains(got, `"refusal":"kerberos"`) || strings.Contains(got, "win10") {
		t.Errorf("after reopen the new file has %q", got)
	}
	if n := strings.Count(readFile(t, path+".1"), "\n"); n != 1 {
		t.Errorf("rotated file has %d lines, want 1", n)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Enabled: true, Format: "json"}, ""},
		{Config{Enabled: true, Format: "xml"}, "access_log.format"},
		{Config{Path: "/var/log/wefgate/access.log"}, "access_log.enabled"},
	} {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.wantErr)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
