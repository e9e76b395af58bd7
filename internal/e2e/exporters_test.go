package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/exporters/mapping"
	"wefgate/internal/testotelcol"
)

const twoExportersConfig = httpsGateway + `
exporters:
  file:
    enabled: true
    path: {{data}}/events.jsonl
  otlp:
    endpoint: "{{endpoint}}"
    protocol: grpc
    insecure: true
admin:
  address: 127.0.0.1:{{adminport}}
`

// TestDownCollectorDoesNotDelayFileExporter runs the file and OTLP
// exporters side by side and takes the Collector away: the file exporter
// keeps receiving what hosts send, /stats says which exporter is behind,
// and once the Collector is back it gets every acknowledged event too.
func TestDownCollectorDoesNotDelayFileExporter(t *testing.T) {
	col := testotelcol.Start(t)
	dir := t.TempDir()
	const name = "twoexp.example.test"
	pki, clients := testPKI(t, dir, name)
	adminPort := freePort(t)
	gw := startGateway(t, dir, strings.NewReplacer("{{endpoint}}", col.GRPCEndpoint(),
		"{{adminport}}", fmt.Sprint(adminPort)).Replace(twoExportersConfig), freePort(t))
	fwdLogs := &logBuffer{}
	logOnFailure(t, "wefgate", gw.logs)
	logOnFailure(t, "forwarder", fwdLogs)
	output := filepath.Join(dir, "events.jsonl")
	inFile := func() map[string]bool {
		seen := map[string]bool{}
		for _, r := range readOutput(t, output) {
			if uid, ok := r.Attributes[mapping.AttrRecordUID].(string); ok {
				seen[uid] = true
			}
		}
		return seen
	}
	exporterStats := func() map[string]map[string]any {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]any{}
		for _, e := range []string{"file", "otlp"} {
			if v, ok := m["exporter_"+e].(map[string]any); ok {
				out[e] = v
			}
		}
		return out
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rec := newAckRecorder()
	log := &stoppableLog{Log: handleEventLog(name, 200, 0, 64)}
	defer log.stop()
	host := ackingHost(t, pki, clients[name], gw.managerURL(), log, rec, fwdLogs)
	waitHosts := runHosts(ctx, host)
	waitUntil(t, 20*time.Second, "the first events at both exporters", func() bool {
		return len(col.Records(t)) >= 20 && len(inFile()) >= 20
	})

	col.Stop()
	waitUntil(t, 20*time.Second, "the OTLP exporter failing", func() bool {
		failing, _ := exporterStats()["otlp"]["failing"].(bool)
		return failing
	})
	// Everything acknowledged from now on reaches the file while the
	// Collector stays down.
	ackedSinceDown := rec.snapshot()
	waitUntil(t, 20*time.Second, "200 more events acknowledged", func() bool { return rec.count() >= len(ackedSinceDown)+200 })
	acked := rec.snapshot()
	waitUntil(t, 20*time.Second, "the file exporter to have every acknowledged event while the Collector is down", func() bool {
		seen := inFile()
		for uid := range acked {
			if !seen[uid] {
				return false
			}
		}
		return true
	})
	st := exporterStats()
	if failing, _ := st["file"]["failing"].(bool); failing {
		t.Errorf("file exporter reported failing: %v", st["file"])
	}
	if failing, _ := st["otlp"]["failing"].(bool); !failing || st["otlp"]["last_error"] == "" {
		t.Errorf("otlp exporter not reported failing: %v", st["otlp"])
	}
	if pending, _ := st["otlp"]["pending"].(float64); pending == 0 {
		t.Errorf("otlp exporter has nothing pending while down: %v", st["otlp"])
	}

	col.Restart(t)
	log.stop()
	waitHosts(t)
	waitAllArrived(t, col, rec.snapshot(), 40*time.Second)
}
