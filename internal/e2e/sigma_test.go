package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/internal/samples"
	"wefgate/internal/sigmaeval"
	"wefgate/wef/eventfile"
	"wefgate/wef/forwarder"
)

// ecsConfig is enriched mode with the helper events exported, in the ecs
// schema: what a team on Elastic would run to use its Sigma rules.
const ecsConfig = httpsGateway + `
exporters:
  schema: ecs
  file:
    path: {{data}}/events.jsonl
handles:
  enriched: true
  export_helper_events: true
  reorder_time: 500ms
`

// replayECS sends events through a forwarder and a gateway running
// ecsConfig, stops the gateway (which flushes the correlator) and returns
// the exported JSON lines as the events Sigma rules are evaluated on.
func replayECS(t *testing.T, raw []string) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pki.IssueClient("host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, dir, ecsConfig, freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tlsHost(t, pki, cc, gw.managerURL(), forwarder.NewStaticLog(raw)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Every event of these captures is exported (helper events too).
	// Stopping flushes the correlator but leaves what the shipper has not
	// read yet in the spool, so wait for the shipper to export them all
	// (held events come out after reorder_time) before stopping.
	out := filepath.Join(dir, "events.jsonl")
	for deadline := time.Now().Add(30 * time.Second); countLines(out) < len(raw) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	gw.stop()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		ev, err := sigmaeval.Event(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(raw) {
		t.Errorf("exported %d records for %d events sent", len(evs), len(raw))
	}
	return evs
}

// countLines counts the lines of path; a missing file has none.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// lsassDuplicationCapture is a duplication out of lsass into Task
// Manager, as in OTRF's rdp_interactive_taskmanager_lsass_dump capture
// (otrf_4690_target_not_system_examples.jsonl, WORKSTATION5: SourceProcessId
// 0x2e8 → TargetProcessId 0x270 Taskmgr.exe), preceded by the two process
// starts (4688) that capture window does not contain, so that the source
// process can be named. With toSystem the copy goes into PID 4 instead,
// which is what auditing itself does.
func lsassDuplicationCapture(toSystem bool) []string {
	const host = "WORKSTATION5.theshire.local"
	target := "0x270"
	if toSystem {
		target = "0x4"
	}
	base := map[string]string{
		"SubjectUserSid": "S-1-5-21-1-2-3-1104", "SubjectUserName": "pgustavo",
		"SubjectDomainName": "THESHIRE", "SubjectLogonId": "0x1f4b5d",
	}
	with := func(more map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	return []string{
		testEvent(4688, 822000, host, with(map[string]string{"NewProcessId": "0x2e8", "NewProcessName": `C:\Windows\System32\lsass.exe`, "ProcessId": "0x26c"})),
		testEvent(4688, 822001, host, with(map[string]string{"NewProcessId": "0x270", "NewProcessName": `C:\Windows\System32\Taskmgr.exe`, "ProcessId": "0x1a0"})),
		testEvent(4690, 822108, host, with(map[string]string{"SourceHandleId": "0x254", "SourceProcessId": "0x2e8", "TargetHandleId": "0x9e0", "TargetProcessId": target})),
		testEvent(4658, 822109, host, with(map[string]string{"ObjectServer": "Security", "HandleId": "0x9e0", "ProcessId": "0x270", "ProcessName": `C:\Windows\System32\Taskmgr.exe`})),
	}
}

// TestSigmaRulesOnCaptures evaluates the Sigma rules of examples/sigma
// with sigma-go over wefgate's ecs output of every handle-event capture,
// and checks which captures each rule fires on.
func TestSigmaRulesOnCaptures(t *testing.T) {
	root, err := samples.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := sigmaeval.LoadDir(filepath.Join(root, "examples", "sigma"))
	if err != nil {
		t.Fatal(err)
	}
	dir := samples.Path(t, "handle-events")
	captures := map[string][]string{
		"synthetic/lsass_duplicated_into_taskmgr":     lsassDuplicationCapture(false),
		"synthetic/lsass_duplicated_into_system_pid4": lsassDuplicationCapture(true),
	}
	files, _ := filepath.Glob(filepath.Join(dir, "xml", "*.xml"))
	jsonFiles, _ := filepath.Glob(filepath.Join(dir, "json", "*.jsonl"))
	for _, f := range append(files, jsonFiles...) {
		raw, err := eventfile.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		captures[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = raw
	}
	names := make([]string, 0, len(captures))
	for n := range captures {
		names = append(names, n)
	}
	sort.Strings(names)

	fired := map[string][]string{} // rule id → captures it fired on
	for _, name := range names {
		evs := replayECS(t, captures[name])
		for _, r := range rules {
			hits := 0
			for _, ev := range evs {
				ok, err := r.Matches(context.Background(), ev)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					hits++
				}
			}
			if hits > 0 {
				fired[r.Name()] = append(fired[r.Name()], name)
				t.Logf("%s: %q fired on %d of %d records", name, r.Title, hits, len(evs))
			}
		}
	}

	want := map[string][]string{
		// LSASS Handle Duplicated Into A User Process
		"b7ae225a-9030-4941-b39d-8b7f6624b56b": {
			"synthetic/lsass_duplicated_into_taskmgr",
		},
		// LSASS Process Memory Read Through A Handle
		"8da57373-057d-409f-8696-751e2aa58cb7": {
			"json/otrf_4690_target_not_system_examples.jsonl",
			"json/otrf_cmd_lsass_memory_dumpert_syscalls_lsass_chain.jsonl",
			"json/otrf_lsass_campaign01_metasploit_logonpasswords_lsass_chain.jsonl",
			"json/otrf_psh_lsass_memory_dump_comsvcs_lsass_chain.jsonl",
			"xml/mdecrevoisier_lsassy_lsass_4656_4663_4688.xml",
			"xml/mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml",
			"xml/mdecrevoisier_taskmgr_lsass_4663.xml",
			"xml/sbousseaden_hashdump_lsass_4656_4663.xml",
		},
		// Handle To A SAM Object Closed
		"6a21d645-7772-497f-934a-3f6b13215189": {
			"xml/mdecrevoisier_impacket_secretsdump_4656_4658.xml",
			"xml/mdecrevoisier_mimikatz_sam_4661_4658_first24.xml",
			"xml/mdecrevoisier_sid_history_4661_4658.xml",
		},
	}
	for _, r := range rules {
		got, w := fired[r.Name()], want[r.Name()]
		if _, known := want[r.Name()]; !known {
			t.Errorf("rule %s (%s) has no expectation", r.Name(), r.Path)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%q fired on\n  %q\nwant\n  %q", r.Title, got, w)
		}
	}
	if len(rules) != len(want) {
		t.Errorf("%d rules in examples/sigma, %d expected", len(rules), len(want))
	}
}
