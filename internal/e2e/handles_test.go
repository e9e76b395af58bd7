package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/internal/samples"
	"wefgate/wef/event"
	"wefgate/wef/eventfile"
	"wefgate/wef/forwarder"
)

const enrichedConfig = httpsGateway + `
exporters:
  file:
    path: {{data}}/events.jsonl
handles:
  enriched: true
  reorder_time: 500ms
`

// replayEnriched sends a sample file through a forwarder and a gateway in
// enriched mode and returns the exported records once every handle event
// of the file came out.
func replayEnriched(t *testing.T, file string, handlesYAML ...string) ([]outputRecord, []*event.Event) {
	t.Helper()
	raw, err := eventfile.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*event.Event
	want := 0
	for _, x := range raw {
		ev := event.Parse([]byte(x))
		parsed = append(parsed, ev)
		if ev.Channel == "Security" && (ev.EventID == 4658 || ev.EventID == 4690 || ev.EventID == 4660) {
			want++
		}
	}
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pki.IssueClient("host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, dir, enrichedConfig+strings.Join(handlesYAML, ""), freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tlsHost(t, pki, cc, gw.managerURL(), forwarder.NewStaticLog(raw)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopping the gateway flushes the correlator: nothing is held back.
	gw.stop()
	recs := readOutput(t, filepath.Join(dir, "events.jsonl"))
	got := 0
	for _, r := range recs {
		switch fmt.Sprint(r.Attributes["event.code"]) {
		case "4658", "4690", "4660":
			got++
		}
	}
	if len(handlesYAML) == 0 && got != want {
		t.Fatalf("%s: exported %d handle events, want %d", filepath.Base(file), got, want)
	}
	return recs, parsed
}

func attrStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

func TestEnrichedMimikatzLsass(t *testing.T) {
	file := samples.Path(t, "handle-events", "xml", "mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml")
	recs, _ := replayEnriched(t, file)
	const lsass = `\Device\HarddiskVolume4\Windows\System32\lsass.exe`
	var dup, closeCopy *outputRecord
	for i, r := range recs {
		switch {
		case fmt.Sprint(r.Attributes["event.code"]) == "4690" && r.Attributes["winlog.handle.object.name"] == lsass:
			dup = &recs[i]
		case fmt.Sprint(r.Attributes["event.code"]) == "4658" && r.Attributes["winlog.handle.enrichment.link"] == "duplicate" &&
			r.Attributes["winlog.handle.object.name"] == lsass:
			closeCopy = &recs[i]
		}
	}
	if dup == nil || closeCopy == nil {
		t.Fatalf("the 4690 and the 4658 closing its System-side copy are not both enriched with lsass (4690: %v, 4658: %v)", dup != nil, closeCopy != nil)
	}
	for name, r := range map[string]*outputRecord{"4690": dup, "4658": closeCopy} {
		if !strings.EqualFold(fmt.Sprint(r.Attributes["process.executable.name"]), "mimikatz.exe") {
			t.Errorf("%s: process %v, want mimikatz.exe", name, r.Attributes["process.executable.name"])
		}
		if r.Attributes["winlog.handle.access.mask"] != "0x1010" {
			t.Errorf("%s: access mask %v", name, r.Attributes["winlog.handle.access.mask"])
		}
		rights := attrStrings(r.Attributes["winlog.handle.access.rights"])
		if !slices.Contains(rights, "PROCESS_VM_READ") || !slices.Contains(rights, "PROCESS_QUERY_LIMITED_INFORMATION") {
			t.Errorf("%s: rights %v", name, rights)
		}
		if !slices.Contains(attrStrings(r.Attributes["winlog.handle.flags"]), "lsass_object") {
			t.Errorf("%s: flags %v lack lsass_object", name, r.Attributes["winlog.handle.flags"])
		}
		if r.Attributes["winlog.handle.enrichment.status"] != "matched" {
			t.Errorf("%s: status %v", name, r.Attributes["winlog.handle.enrichment.status"])
		}
	}
	if dup.Attributes["winlog.handle.target.is_system"] != true {
		t.Errorf("4690 target is_system = %v", dup.Attributes["winlog.handle.target.is_system"])
	}
}

// TestEnrichedSamplesReport replays every handle-event capture end to end,
// prints how many handle events were enriched, and requires that the
// 4690s whose source 4656 is in the same capture are enriched.
func TestEnrichedSamplesReport(t *testing.T) {
	dir := samples.Dir(t)
	var files []string
	for _, pattern := range []string{"handle-events/xml/*.xml", "handle-events/json/*.jsonl"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no handle-event samples")
	}
	var partnered, enriched, total, matched int
	for _, file := range files {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		recs, parsed := replayEnriched(t, file)
		opens := map[string]bool{}
		for _, ev := range parsed {
			if ev.EventID == 4656 {
				pid, _ := ev.DataValue("ProcessId")
				h, _ := ev.DataValue("HandleId")
				opens[normHex(pid)+"/"+normHex(h)] = true
			}
		}
		fileMatched, fileTotal := 0, 0
		for _, r := range recs {
			code := fmt.Sprint(r.Attributes["event.code"])
			if code != "4658" && code != "4690" && code != "4660" {
				continue
			}
			fileTotal++
			if r.Attributes["winlog.handle.enrichment.status"] == "matched" {
				fileMatched++
			}
			if code == "4690" {
				ed, _ := r.Body["event_data"].(map[string]any)
				key := normHex(fmt.Sprint(ed["SourceProcessId"])) + "/" + normHex(fmt.Sprint(ed["SourceHandleId"]))
				if opens[key] {
					partnered++
					if r.Attributes["winlog.handle.enrichment.status"] == "matched" {
						enriched++
					}
				}
			}
		}
		total += fileTotal
		matched += fileMatched
		t.Logf("%-70s handle events %3d, enriched %3d", filepath.Base(file), fileTotal, fileMatched)
	}
	t.Logf("all samples: %d of %d handle events enriched; %d of %d 4690s with their 4656 in the capture enriched", matched, total, enriched, partnered)
	if partnered == 0 || enriched*100 < partnered*99 {
		t.Fatalf("%d of %d partnered 4690s enriched, want at least 99%%", enriched, partnered)
	}
}

func normHex(s string) string {
	s = strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "0x"))
	return strings.TrimLeft(s, "0")
}

// TestEnrichedNoiseDrop turns noise control on for certificate-store keys:
// their by-product pairs are not exported, and their counts arrive as
// summary records instead of vanishing.
func TestEnrichedNoiseDrop(t *testing.T) {
	file := samples.Path(t, "handle-events", "xml", "mdecrevoisier_systemnightmare_4656_4690_4658_4688.xml")
	all, _ := replayEnriched(t, file)
	quiet, _ := replayEnriched(t, file, `  noise:
    mode: drop
    rules:
      - object_type: Key
        object_name: '\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\*'
`)
	count := func(recs []outputRecord) (handle int, summaries []outputRecord) {
		for _, r := range recs {
			switch {
			case r.EventName == "wefgate.handles.noise_summary":
				summaries = append(summaries, r)
			case r.Attributes["event.code"] == "4658" || r.Attributes["event.code"] == "4690":
				handle++
			}
		}
		return handle, summaries
	}
	allHandle, _ := count(all)
	quietHandle, summaries := count(quiet)
	if quietHandle >= allHandle {
		t.Fatalf("noise drop exported %d handle events, without it %d", quietHandle, allHandle)
	}
	var dropped int64
	for _, s := range summaries {
		d, _ := s.Body["duplicates"].(float64)
		c, _ := s.Body["closes"].(float64)
		dropped += int64(d) + int64(c)
	}
	if dropped != int64(allHandle-quietHandle) {
		t.Errorf("summaries count %d dropped events, %d were not exported", dropped, allHandle-quietHandle)
	}
	t.Logf("%d handle events without noise control, %d with; %d summary records", allHandle, quietHandle, len(summaries))
}
