//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"wefgate/exporters/mapping"
)

const diskFullConfig = httpsGateway + `
exporters:
  file:
    path: {{data}}/events.jsonl
spool:
  dir: {{spool}}
  compression: none
admin:
  address: 127.0.0.1:{{adminport}}
`

// TestSpoolDiskFullRecovers puts the spool on a 4 MiB tmpfs and fills it
// while a host sends: batches are refused with 503 and /healthz fails while
// the spool cannot write; once space is back wefgate resumes by itself (no
// restart), and every acknowledged event is exported.
func TestSpoolDiskFullRecovers(t *testing.T) {
	fs := t.TempDir()
	if err := syscall.Mount("tmpfs", fs, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
		if os.Getenv("WEFGATE_REQUIRE_MOUNT") != "" {
			t.Fatalf("cannot mount a tmpfs on %s: %v", fs, err)
		}
		t.Skipf("cannot mount a size-limited tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(fs, syscall.MNT_DETACH) })

	dir := t.TempDir()
	const name = "full.example.test"
	pki, clients := testPKI(t, dir, name)
	adminPort := freePort(t)
	gw := startGateway(t, dir, strings.NewReplacer("{{spool}}", filepath.Join(fs, "spool"),
		"{{adminport}}", fmt.Sprint(adminPort)).Replace(diskFullConfig), freePort(t))
	fwdLogs := &logBuffer{}
	logOnFailure(t, "wefgate", gw.logs)
	logOnFailure(t, "forwarder", fwdLogs)
	healthz := func() (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	spoolFailing := func() float64 {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		return value(families, "wefgate_spool_write_failing", nil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rec := newAckRecorder()
	log := &stoppableLog{Log: handleEventLog(name, 300, 0, 512)}
	defer log.stop()
	host := ackingHost(t, pki, clients[name], gw.managerURL(), log, rec, fwdLogs)
	waitHosts := runHosts(ctx, host)
	acked := func() uint64 { a, _ := hostStats(host); return a }
	retries := func() uint64 { _, r := hostStats(host); return r }
	waitUntil(t, 20*time.Second, "50 events acknowledged", func() bool { return acked() >= 50 })

	// Fill the filesystem under the spool.
	filler := filepath.Join(fs, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	f.Close()
	retriesAtFull := retries()
	waitUntil(t, 20*time.Second, "batches refused with 503 for a spool that cannot write", func() bool {
		return retries() >= retriesAtFull+3 && gw.logs.contains("spool write failed", "no space left on device") &&
			gw.logs.contains("status=503", "writes failing")
	})
	if code, body := healthz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "no space left on device") {
		t.Fatalf("/healthz while the spool cannot write: %d %q", code, body)
	}
	if v := spoolFailing(); v != 1 {
		t.Errorf("wefgate_spool_write_failing %v while the spool cannot write, want 1", v)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", adminPort)); err != nil {
		t.Fatal(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "failing, hosts get 503") {
			t.Error("the status page does not show the spool failing")
		}
	}
	ackedFull := acked()
	t.Logf("disk full: %d events acknowledged, %d retries", ackedFull, retries())

	// Space comes back: wefgate resumes without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "/healthz ok once space is back", func() bool { code, _ := healthz(); return code == http.StatusOK })
	waitUntil(t, 30*time.Second, "acknowledgements resuming", func() bool { return acked() >= ackedFull+50 })
	if !gw.logs.contains("spool writes work again") {
		t.Error("no log line when the spool recovered")
	}
	if v := spoolFailing(); v != 0 {
		t.Errorf("wefgate_spool_write_failing %v after recovery, want 0", v)
	}
	log.stop()
	waitHosts(t)

	// Every acknowledged event reaches the exporter.
	want := rec.snapshot()
	waitUntil(t, 30*time.Second, fmt.Sprintf("all %d acknowledged events in the output", len(want)), func() bool {
		seen := map[string]bool{}
		for _, r := range readOutput(t, filepath.Join(dir, "events.jsonl")) {
			if uid, ok := r.Attributes[mapping.AttrRecordUID].(string); ok {
				seen[uid] = true
			}
		}
		for uid := range want {
			if !seen[uid] {
				return false
			}
		}
		return true
	})
}
