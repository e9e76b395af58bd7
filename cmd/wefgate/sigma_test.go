package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/exporters/file"
	"wefgate/exporters/mapping"
	"wefgate/record"
	"wefgate/wef/event"
)

// lsassRead is a 4663 reading lsass memory, as mimikatz's sekurlsa does.
const lsassRead = `<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"/><EventID>4663</EventID><Version>1</Version><Level>0</Level><Task>12802</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime="2026-11-20T10:00:01.5Z"/><EventRecordID>9217077</EventRecordID><Correlation/><Execution ProcessID="4" ThreadID="456"/><Channel>Security</Channel><Computer>jump01.offsec.lan</Computer><Security/></System><EventData><Data Name="SubjectUserName">admmig</Data><Data Name="ObjectServer">Security</Data><Data Name="ObjectType">Process</Data><Data Name="ObjectName">\Device\HarddiskVolume4\Windows\System32\lsass.exe</Data><Data Name="HandleId">0x274</Data><Data Name="AccessList">%%4484
				</Data><Data Name="AccessMask">0x10</Data><Data Name="ProcessId">0x1e20</Data><Data Name="ProcessName">C:\TOOLS\mimikatz.exe</Data></EventData></Event>`

// writeExport writes ev as the file exporter does, in schema.
func writeExport(t *testing.T, path string, schema mapping.Schema, evs ...string) {
	t.Helper()
	exp, err := file.New(path, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := record.Source{Identity: "jump01.offsec.lan", Received: time.Date(2026, 11, 20, 10, 0, 2, 0, time.UTC)}
	var recs []record.Record
	for _, x := range evs {
		recs = append(recs, mapping.Map(src, event.Parse([]byte(x)), nil, mapping.Options{Schema: schema}))
	}
	if err := exp.Export(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := exp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSigmaCommand(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join("..", "..", "examples", "sigma")
	ecs := filepath.Join(dir, "ecs.jsonl")
	writeExport(t, ecs, mapping.SchemaECS, lsassRead, strings.Replace(lsassRead, `lsass.exe`, `notepad.exe`, 1))
	out, err := runCLI(t, "sigma", "-rules", rules, ecs)
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, ecs+":1\t8da57373-057d-409f-8696-751e2aa58cb7\tLSASS Process Memory Read Through A Handle\tjump01.offsec.lan\t4663\t9217077") {
		t.Errorf("no match line for the lsass read:\n%s", out)
	}
	if strings.Contains(out, ecs+":2") || !strings.Contains(out, "records=2 matches=1 rules=3 not_ecs=0") {
		t.Errorf("output:\n%s", out)
	}

	otel := filepath.Join(dir, "otel.jsonl")
	writeExport(t, otel, mapping.SchemaOTel, lsassRead)
	if out, err := runCLI(t, "sigma", "-rules", rules, otel); err == nil || !strings.Contains(err.Error(), "exporters.schema: ecs") {
		t.Errorf("otel-schema input: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "sigma", "-rules", dir, ecs); err == nil || !strings.Contains(err.Error(), "no Sigma rules") {
		t.Errorf("empty rules directory: %v", err)
	}
	if _, err := runCLI(t, "sigma", "-rules", rules); err == nil {
		t.Error("no input file accepted")
	}
}
