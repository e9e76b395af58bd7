package e2e

import (
	"context"
	"reflect"
	"testing"
	"time"

	"wefgate/internal/testotelcol"
	"wefgate/wef/forwarder"
)

// TestOTLPECSSchema sends a 4658 and a 4690 through wefgate with
// exporters.schema: ecs to a real OpenTelemetry Collector and checks that
// the ECS and winlog fields arrive as OTLP attributes, under a scope that
// asks Elastic's intake for its ECS mapping mode.
func TestOTLPECSSchema(t *testing.T) {
	col := testotelcol.Start(t)
	dir := t.TempDir()
	const computer = "ws01.corp.example"
	pki, clients := testPKI(t, dir, computer)
	gw := startGateway(t, dir, otlpConfig{
		protocol: "grpc", endpoint: collectorEndpoint(col, "grpc"), schema: "ecs",
	}.yaml(), freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	subject := map[string]string{"SubjectUserSid": "S-1-5-21-1-2-3-1104", "SubjectUserName": "admmig", "SubjectDomainName": "OFFSEC", "SubjectLogonId": "0xe922e"}
	with := func(more map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range subject {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	events := []string{
		testEvent(4658, 1001, computer, with(map[string]string{"HandleId": "0x274", "ProcessId": "0x1e20", "ProcessName": `C:\Tools\mimikatz.exe`, "ObjectServer": "Security"})),
		testEvent(4690, 1002, computer, with(map[string]string{"SourceHandleId": "0x274", "SourceProcessId": "0x2a8", "TargetHandleId": "0x11c0", "TargetProcessId": "0x4"})),
	}
	fwdLogs := &logBuffer{}
	logOnFailure(t, "wefgate", gw.logs)
	logOnFailure(t, "forwarder", fwdLogs)
	runHosts(ctx, ackingHost(t, pki, clients[computer], gw.managerURL(), forwarder.NewStaticLog(events), newAckRecorder(), fwdLogs))(t)
	if t.Failed() {
		t.FailNow()
	}
	recs := col.WaitForRecords(t, 2, 30*time.Second)
	common := map[string]any{
		"event.kind": "event", "event.module": "system", "event.dataset": "system.security",
		"data_stream.type": "logs", "data_stream.dataset": "system.security", "event.outcome": "success",
		"event.provider": "Microsoft-Windows-Security-Auditing", "winlog.channel": "Security",
		"winlog.computer_name": computer, "winlog.logon.id": "0xe922e", "winlog.keywords": []any{"Audit Success"},
		"user.name": "admmig", "user.domain": "OFFSEC", "related.user": []any{"admmig"},
		"winlog.event_data.SubjectUserSid": "S-1-5-21-1-2-3-1104",
	}
	want := map[string]map[string]any{
		"4658": {"event.action": "handle-closed-object", "event.category": []any{"iam", "configuration"},
			"winlog.record_id": "1001", "winlog.task": "Handle Manipulation", "process.pid": int64(0x1e20),
			"process.executable": `C:\Tools\mimikatz.exe`, "process.name": "mimikatz.exe", "winlog.event_data.HandleId": "0x274"},
		"4690": {"event.action": "duplicate-handle-attempt", "event.type": []any{"access"},
			"winlog.record_id": "1002", "winlog.event_data.SourceProcessId": "0x2a8", "winlog.event_data.TargetProcessId": "0x4"},
	}
	absent := map[string][]string{
		"4658": {"winlog.event_data.ProcessId", "winlog.event_data.ProcessName", "log.record.uid"},
		"4690": {"process.pid", "process.executable", "log.record.uid"},
	}
	seen := map[string]bool{}
	for _, r := range recs {
		code, _ := r.Attributes["event.code"].(string)
		seen[code] = true
		if r.ScopeAttributes["elastic.mapping.mode"] != "ecs" {
			t.Errorf("%s: scope attributes %v lack elastic.mapping.mode=ecs", code, r.ScopeAttributes)
		}
		if r.SeverityText != "information" || r.Resource["host.name"] != computer {
			t.Errorf("%s: severity text %q host %v", code, r.SeverityText, r.Resource["host.name"])
		}
		for _, m := range []map[string]any{common, want[code]} {
			for k, v := range m {
				if !reflect.DeepEqual(r.Attributes[k], v) {
					t.Errorf("%s: %s = %#v, want %#v", code, k, r.Attributes[k], v)
				}
			}
		}
		for _, k := range absent[code] {
			if v, ok := r.Attributes[k]; ok {
				t.Errorf("%s: %s = %#v, want absent", code, k, v)
			}
		}
	}
	if !seen["4658"] || !seen["4690"] {
		t.Errorf("received %v", seen)
	}
}
