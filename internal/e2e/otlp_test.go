package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"wefgate/exporters/mapping"
	"wefgate/internal/testotelcol"
	"wefgate/wef/forwarder"
)

// allSecurityEvents offers every Security event, so that wefgate's own
// selection of 4658/4690 is what decides what reaches the collector.
const allSecurityEvents = `  - name: all-security
    xpath: "*"
`

// sentHandleEvent is what the test knows of a handle event it sent.
type sentHandleEvent struct {
	id       int
	recordID uint64
	computer string
	data     map[string]string
	action   string
	category []any
	pid      int64
}

func TestOTLPFieldByField(t *testing.T) {
	// TimeCreated of every testEvent.
	created := time.Date(2026, 11, 21, 6, 0, 0, 123456700, time.UTC)
	hosts := []string{"host1.example.test", "Host2.Example.Test"}

	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(protocol, "/", "_"), func(t *testing.T) {
			col := testotelcol.Start(t)
			dir := t.TempDir()
			pki, clients := testPKI(t, dir, strings.ToLower(hosts[0]), strings.ToLower(hosts[1]))
			gw := startGateway(t, dir, otlpConfig{
				protocol: protocol, endpoint: collectorEndpoint(col, protocol), subscriptions: allSecurityEvents,
			}.yaml(), freePort(t))
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			start := time.Now()

			var want []sentHandleEvent
			var fwd []*forwarder.Host
			fwdLogs := &logBuffer{}
			for i, computer := range hosts {
				base := uint64(1000 * (i + 1))
				closed := sentHandleEvent{id: 4658, recordID: base + 1, computer: computer,
					data:   map[string]string{"HandleId": "0x274", "ProcessId": "0x1e20", "ProcessName": `C:\Tools\mimikatz.exe`, "ObjectServer": "Security", "SubjectUserSid": "S-1-5-21-1-2-3-1104"},
					action: "handle-closed-object", category: []any{"iam", "configuration"}, pid: 0x1e20}
				duplicated := sentHandleEvent{id: 4690, recordID: base + 3, computer: computer,
					data:   map[string]string{"SourceHandleId": "0x274", "SourceProcessId": "0x2a8", "TargetHandleId": "0x11c0", "TargetProcessId": "0x4"},
					action: "duplicate-handle-attempt", category: []any{"process"}, pid: 0x2a8}
				events := []string{
					testEvent(closed.id, closed.recordID, computer, closed.data),
					testEvent(4624, base+2, computer, map[string]string{"LogonType": "3"}),
					testEvent(duplicated.id, duplicated.recordID, computer, duplicated.data),
					testEvent(4656, base+4, computer, map[string]string{"HandleId": "0x274"}),
					testEvent(4688, base+5, computer, map[string]string{"NewProcessName": `C:\Windows\cmd.exe`}),
				}
				want = append(want, closed, duplicated)
				cc := clients[strings.ToLower(computer)]
				fwd = append(fwd, ackingHost(t, pki, cc, gw.managerURL(), forwarder.NewStaticLog(events), newAckRecorder(), fwdLogs))
			}
			logOnFailure(t, "wefgate", gw.logs)
			logOnFailure(t, "forwarder", fwdLogs)
			runHosts(ctx, fwd...)(t)
			if t.Failed() {
				t.FailNow()
			}

			col.WaitForRecords(t, len(want), 30*time.Second)
			// Anything else (a filtered event let through, a duplicate) would
			// come in the same requests; give it a moment to show up.
			time.Sleep(300 * time.Millisecond)
			recs := col.Records(t)
			if len(recs) != len(want) {
				var names []string
				for _, r := range recs {
					names = append(names, r.EventName)
				}
				t.Fatalf("collector has %d records %v, want the %d handle events only", len(recs), names, len(want))
			}
			byUID := map[string]testotelcol.ReceivedRecord{}
			for _, r := range recs {
				uid, _ := r.Attributes[mapping.AttrRecordUID].(string)
				byUID[uid] = r
			}
			for _, w := range want {
				uid := recordUID(w.computer, "Security", w.recordID)
				r, ok := byUID[uid]
				if !ok {
					t.Errorf("%d record %d of %s: no record with log.record.uid %s", w.id, w.recordID, w.computer, uid)
					continue
				}
				checkHandleRecord(t, r, w, created, start, strings.ToLower(w.computer))
			}
		})
	}
}

// checkHandleRecord compares one received record with the event sent.
func checkHandleRecord(t *testing.T, r testotelcol.ReceivedRecord, w sentHandleEvent, created, start time.Time, identity string) {
	t.Helper()
	where := fmt.Sprintf("%d record %d of %s", w.id, w.recordID, w.computer)
	eq := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s = %#v, want %#v", where, field, got, want)
		}
	}
	eq("resource host.name", r.Resource["host.name"], w.computer)
	eq("resource os.type", r.Resource["os.type"], "windows")
	eq("resource service.name", r.Resource["service.name"], "wefgate")
	if hostname, err := os.Hostname(); err == nil {
		eq("resource service.instance.id", r.Resource["service.instance.id"], hostname)
	}
	eq("event name", r.EventName, fmt.Sprintf("windows.security.%d", w.id))
	eq("timestamp", r.Timestamp, created)
	if r.Observed.Before(start.Add(-time.Second)) || r.Observed.After(time.Now()) {
		t.Errorf("%s: observed timestamp %v is not the time of receipt (test started %v)", where, r.Observed, start)
	}
	eq("severity number", r.SeverityNumber, 9)
	eq("severity text", r.SeverityText, "INFO")

	body, ok := r.Body.(map[string]any)
	if !ok {
		t.Fatalf("%s: body is %T, want a map", where, r.Body)
	}
	eventID, _ := body["event_id"].(map[string]any)
	eq("body event_id.id", eventID["id"], int64(w.id))
	eq("body channel", body["channel"], "Security")
	eq("body computer", body["computer"], w.computer)
	eq("body record_id", body["record_id"], int64(w.recordID))
	provider, _ := body["provider"].(map[string]any)
	eq("body provider.name", provider["name"], "Microsoft-Windows-Security-Auditing")
	wantData := map[string]any{}
	for k, v := range w.data {
		wantData[k] = v
	}
	eq("body event_data", body["event_data"], wantData)

	a := r.Attributes
	eq("log.record.uid", a[mapping.AttrRecordUID], recordUID(w.computer, "Security", w.recordID))
	eq("event.code", a[mapping.AttrEventCode], fmt.Sprint(w.id))
	eq("event.action", a[mapping.AttrEventAction], w.action)
	eq("event.category", a[mapping.AttrEventCategory], w.category)
	eq("event.outcome", a[mapping.AttrEventOutcome], "success")
	eq("process.pid", a[mapping.AttrProcessPID], w.pid)
	eq("wef.host.identity", a[mapping.AttrHostIdentity], identity)
	eq("wef.machine_id", a[mapping.AttrMachineID], identity)
	eq("wef.subscription.name", a[mapping.AttrSubscription], "all-security")
	eq("client.address", a[mapping.AttrClientAddress], "127.0.0.1")
	if w.id == 4658 {
		eq("process.executable.path", a[mapping.AttrProcessPath], w.data["ProcessName"])
		eq("user.id", a[mapping.AttrUserID], w.data["SubjectUserSid"])
	}
}

func TestOTLPLargeBatchOverGRPC(t *testing.T) {
	// The collector keeps gRPC's default 4 MiB receive limit: a request
	// carrying the whole batch would be refused and nothing would arrive.
	col := testotelcol.Start(t)
	const (
		events    = 40
		dataBytes = 128 << 10
		envelope  = 12 << 20 // UTF-16 on the wire: twice the event text
	)
	subs := fmt.Sprintf(`  - name: large
    xpath: "*"
    max_envelope_size: %d
`, envelope)
	dir := t.TempDir()
	pki, clients := testPKI(t, dir, "big.example.test")
	gw := startGateway(t, dir, otlpConfig{
		protocol: "grpc", endpoint: col.GRPCEndpoint(), subscriptions: subs, maxBodyBytes: envelope + 1<<20,
	}.yaml(), freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	sent := map[string]string{} // uid → Payload
	var texts []string
	total := 0
	for i := range events {
		id := uint64(i + 1)
		payload := randomText(rand.New(rand.NewPCG(id, 42)), dataBytes)
		sent[recordUID("big.example.test", "Security", id)] = payload
		total += len(payload)
		texts = append(texts, testEvent(4658, id, "big.example.test", map[string]string{"HandleId": "0x10", "ProcessId": "0x4", "Payload": payload}))
	}
	if total <= 4<<20 {
		t.Fatalf("test batch carries only %d bytes", total)
	}
	rec := newAckRecorder()
	fwdLogs := &logBuffer{}
	logOnFailure(t, "wefgate", gw.logs)
	logOnFailure(t, "forwarder", fwdLogs)
	h := ackingHost(t, pki, clients["big.example.test"], gw.managerURL(), forwarder.NewStaticLog(texts), rec, fwdLogs)
	runHosts(ctx, h)(t)
	if got := rec.count(); got != events {
		t.Errorf("forwarder saw %d events acknowledged, want %d", got, events)
	}
	if got := h.Stats.Batches.Load(); got != 1 {
		t.Errorf("forwarder sent %d batches, want the %d events in one", got, events)
	}
	if t.Failed() {
		t.FailNow()
	}

	recs := col.WaitForRecords(t, events, 40*time.Second)
	counts := uidCounts(recs)
	received := 0
	for uid := range sent {
		if counts[uid] == 0 {
			t.Errorf("record %s missing", uid)
		}
	}
	for _, r := range recs {
		uid, _ := r.Attributes[mapping.AttrRecordUID].(string)
		body, _ := r.Body.(map[string]any)
		data, _ := body["event_data"].(map[string]any)
		payload, _ := data["Payload"].(string)
		if payload != sent[uid] {
			t.Errorf("record %s: Payload of %d bytes differs from the %d sent", uid, len(payload), len(sent[uid]))
		}
		received += len(payload)
	}
	// The payload strings alone are a lower bound of the encoded size.
	if received <= 4<<20 {
		t.Errorf("collector received %d payload bytes, want more than 4 MiB", received)
	}
	var dups []string
	for uid, n := range counts {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", uid, n))
		}
	}
	sort.Strings(dups)
	t.Logf("%d records, %d payload bytes (> 4 MiB) over gRPC; duplicates: %v", len(recs), received, dups)
}
