// Package e2e runs wefgate end to end: the real listeners, PKI, state
// store and exporters, driven by the forwarder simulator and by the real
// Windows captures in ../shared/samples.
package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/internal/samples"
	"wefgate/subscriptions"
	"wefgate/wef/forwarder"
	"wefgate/wef/soap"
)

const httpsConfig = httpsGateway + `
  crl_files: [{{data}}/pki/issuing-ca.crl]
subscriptions:
  # Every Security event, so that wefgate's own selection is what is tested.
  - name: handle-manipulation
    xpath: "*"
    denied_hosts: ["denied*"]
  - name: windows-capture
    id: 219C5353-5F3D-4CD7-A644-F6B69E57C1C1
    channel: Microsoft-Windows-WinRM/Operational
    xpath: "*"
exporters:
  file:
    path: {{data}}/events.jsonl
spool:
  enabled: false
`

type fixture struct {
	dir   string
	pki   *certs.PKI
	gw    *gateway
	hosts map[string]*certs.ClientCert
}

func newHTTPSFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, pki: pki, hosts: map[string]*certs.ClientCert{}}
	for _, h := range []string{"host1.example.test", "host2.example.test", "denied1.example.test", "revoked.example.test"} {
		cc, err := pki.IssueClient(h)
		if err != nil {
			t.Fatal(err)
		}
		f.hosts[h] = cc
	}
	f.gw = startGateway(t, dir, httpsConfig, freePort(t))
	return f
}

func (f *fixture) host(t *testing.T, name string, log forwarder.Log) *forwarder.Host {
	return tlsHost(t, f.pki, f.hosts[name], f.gw.managerURL(), log)
}

func handleSub(t *testing.T, subs []soap.Subscription) soap.Subscription {
	t.Helper()
	for _, s := range subs {
		if s.Name == "handle-manipulation" {
			return s
		}
	}
	t.Fatalf("handle-manipulation subscription not offered: %+v", subs)
	return soap.Subscription{}
}

func TestHTTPSEnrollAndDeliver(t *testing.T) {
	f := newHTTPSFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A batch that mixes handle events with others, plus an event cut
	// short inside RenderingInfo, as Windows sometimes sends.
	events := []string{
		testEvent(4658, 101, "host1.example.test", map[string]string{"HandleId": "0x274", "ProcessId": "0x1e20", "ProcessName": `C:\Tools\mimikatz.exe`}),
		testEvent(4624, 102, "host1.example.test", map[string]string{"LogonType": "3"}),
		testEvent(4690, 103, "host1.example.test", map[string]string{"SourceHandleId": "0x274", "SourceProcessId": "0x1e20", "TargetHandleId": "0x11c0", "TargetProcessId": "0x4"}),
		testEvent(4688, 104, "host1.example.test", map[string]string{"NewProcessName": `C:\Windows\cmd.exe`}),
		strings.Replace(testEvent(4658, 105, "host1.example.test", map[string]string{"HandleId": "0x11c0", "ProcessId": "0x4"}),
			`</Event>`, `<RenderingInfo Culture='en-US'><Message>The handle to an object was cl`, 1),
	}
	h1 := f.host(t, "host1.example.test", forwarder.NewStaticLog(events))

	subs, err := h1.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := handleSub(t, subs)
	wantAddr := fmt.Sprintf("https://localhost:%d%s%s", f.gw.port, subscriptions.DeliveryPath, sub.ID)
	if sub.Address != wantAddr {
		t.Errorf("delivery address %q, want %q", sub.Address, wantAddr)
	}
	if sub.Auth.Profile != soap.ProfileMutual || !strings.EqualFold(sub.Auth.IssuerThumbprint, f.pki.IssuerThumbprint()) {
		t.Errorf("policy %+v, want mutual with issuer %s", sub.Auth, f.pki.IssuerThumbprint())
	}
	if sub.Query != `<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>` {
		t.Errorf("query %q", sub.Query)
	}
	if sub.Bookmark != "" {
		t.Errorf("fresh host got a bookmark: %q", sub.Bookmark)
	}

	if err := h1.Run(ctx); err != nil {
		t.Fatal(err)
	}
	recs := waitOutput(t, filepath.Join(f.dir, "events.jsonl"), 3)
	var codes []string
	for _, r := range recs {
		codes = append(codes, fmt.Sprint(r.Attributes["event.code"]))
		if r.Attributes["wef.host.identity"] != "host1.example.test" || r.Attributes["wef.subscription.name"] == nil {
			t.Errorf("record lacks delivery metadata: %v", r.Attributes)
		}
	}
	if strings.Join(codes, ",") != "4658,4690,4658" {
		t.Fatalf("exported event codes %v, want 4658,4690,4658 (handle events only, the damaged one kept)", codes)
	}
	if recs[2].Attributes["wef.parse_problem"] == nil {
		t.Errorf("damaged event not flagged: %v", recs[2].Attributes)
	}
	if !f.gw.logs.contains("damaged or empty events in batch", "host=host1.example.test") {
		t.Error("no log line names the damaged event and its host")
	}

	// The bookmark comes back on the next Enumerate, and after a restart.
	wantBookmark := `RecordId="105"`
	for _, phase := range []string{"same process", "after restart"} {
		if phase == "after restart" {
			f.gw.restart()
		}
		subs, err := h1.Enumerate(ctx)
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if got := handleSub(t, subs).Bookmark; !strings.Contains(got, wantBookmark) {
			t.Fatalf("%s: bookmark %q, want one with %s", phase, got, wantBookmark)
		}
		if handleSub(t, subs).Version != sub.Version {
			t.Errorf("%s: version changed from %s to %s", phase, sub.Version, handleSub(t, subs).Version)
		}
	}

	// A second host, and its heartbeat.
	h2 := f.host(t, "host2.example.test", forwarder.NewStaticLog(nil))
	subs2, err := h2.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Heartbeat(ctx, handleSub(t, subs2)); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	f.gw.stop()
	store, err := subscriptions.OpenBolt(filepath.Join(f.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	states, err := store.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]subscriptions.HostState{}
	for _, s := range states {
		seen[s.Identity] = s
	}
	if s := seen["host2.example.test"]; s.LastHeartbeat.IsZero() || s.Address != "127.0.0.1" {
		t.Errorf("host2 heartbeat not recorded: %+v", s)
	}
	if s := seen["host1.example.test"]; s.LastEvent.IsZero() || s.Events != uint64(len(events)) || s.MachineID != "host1.example.test" {
		t.Errorf("host1 state %+v", s)
	}
}

func TestHTTPSRefusals(t *testing.T) {
	f := newHTTPSFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Certificates that must not get in.
	rogue, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(f.dir, "rogue"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	rogueHost, err := rogue.IssueClient("host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	noEKU, err := f.pki.IssueClient("noeku.example.test", certs.WithExtKeyUsages(x509.ExtKeyUsageServerAuth))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.pki.Revoke(f.hosts["revoked.example.test"].Cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
	refused := map[string]*certs.ClientCert{"other CA": rogueHost, "no client-auth EKU": noEKU, "revoked": f.hosts["revoked.example.test"]}
	for name, cc := range refused {
		cfg, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{f.pki.Path(certs.RootCAFile)}, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		h := forwarder.NewHost(forwarder.HostConfig{MachineID: cc.FQDN, ManagerURL: f.gw.managerURL(),
			Client: &forwarder.Client{Security: forwarder.TLSSecurity{Config: cfg}}, Log: forwarder.NewStaticLog(nil)})
		// The CRL is re-read on a short interval; give it the chance.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err = h.Enumerate(ctx)
			if err != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err == nil {
			t.Errorf("%s: certificate accepted", name)
		}
	}
	if !f.gw.logs.contains("client certificate refused", "revoked") {
		t.Error("no log line gives the revocation as the reason")
	}

	// A denied host authenticates but is offered nothing.
	denied := f.host(t, "denied1.example.test", forwarder.NewStaticLog(nil))
	subs, err := denied.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Name == "handle-manipulation" {
			t.Errorf("denied host was offered %q", s.Name)
		}
	}

	// An unknown subscription id gets 404.
	h1 := f.host(t, "host1.example.test", forwarder.NewStaticLog(nil))
	subs, err = h1.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ghost := handleSub(t, subs)
	ghost.ID = "00000000-0000-0000-0000-000000000000"
	if err := h1.Heartbeat(ctx, ghost); !forwarder.IsStatus(err, http.StatusNotFound) {
		t.Errorf("unknown subscription: %v, want 404", err)
	}
	// The denied host delivering to the subscription anyway gets 403.
	if err := denied.Heartbeat(ctx, handleSub(t, subs)); !forwarder.IsStatus(err, http.StatusForbidden) {
		t.Errorf("denied host heartbeat: %v, want 403", err)
	}
}

// rawPost sends a body as Windows would, over a fresh TLS connection.
func rawPost(t *testing.T, f *fixture, host, path string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	cc := f.hosts[host]
	cfg, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{f.pki.Path(certs.RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 20 * time.Second}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("https://localhost:%d%s", f.gw.port, path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp, rb
}

func TestWindowsCaptures(t *testing.T) {
	enumerate := samples.Read(t, "wef", "enumerate-request.utf16le.bin")
	heartbeat := samples.Read(t, "wef", "heartbeat.sldc.bin")
	f := newHTTPSFixture(t)
	soapHeader := http.Header{"Content-Type": {soap.ContentType}}

	// The real Windows Enumerate, sent to a path an admin chose.
	resp, body := rawPost(t, f, "host1.example.test", "/wsman/SubscriptionManager/WEC", soapHeader, enumerate)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Enumerate: %d %s", resp.StatusCode, body)
	}
	if !bytes.HasPrefix(body, []byte{0xFF, 0xFE}) || resp.Header.Get("Content-Type") != soap.ContentType {
		t.Fatalf("response is not UTF-16LE with BOM (%q)", resp.Header.Get("Content-Type"))
	}
	text, _ := soap.DecodeText(body)
	relates, subs, err := soap.ParseEnumerateResponse(text)
	if err != nil {
		t.Fatal(err)
	}
	if relates != "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E" || len(subs) != 2 {
		t.Fatalf("RelatesTo %q, %d subscriptions", relates, len(subs))
	}

	// The real SLDC-compressed heartbeat, on a subscription with its id.
	h := soapHeader.Clone()
	h.Set("Content-Encoding", "SLDC")
	resp, body = rawPost(t, f, "host1.example.test", "/wsman/subscriptions/219C5353-5F3D-4CD7-A644-F6B69E57C1C1", h, heartbeat)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Heartbeat: %d %s", resp.StatusCode, body)
	}
	text, _ = soap.DecodeText(body)
	ack, err := soap.Parse(text)
	if err != nil || ack.Action != soap.ActionAck {
		t.Fatalf("heartbeat answer %v %+v", err, ack)
	}

	// Bad input: bounded, with the right status and a log line.
	for name, tc := range map[string]struct {
		path   string
		body   []byte
		status int
	}{
		"not SOAP":                {"/wsman/SubscriptionManager/WEC", []byte("hello"), http.StatusBadRequest},
		"unknown action":          {"/wsman/SubscriptionManager/WEC", soap.EncodeUTF16LE([]byte(`<s:Envelope><s:Header><a:Action>urn:x</a:Action></s:Header><s:Body/></s:Envelope>`)), http.StatusBadRequest},
		"enumerate to delivery":   {"/wsman/subscriptions/219C5353-5F3D-4CD7-A644-F6B69E57C1C1", enumerate, http.StatusBadRequest},
		"too large":               {"/wsman/SubscriptionManager/WEC", make([]byte, 2<<20), http.StatusRequestEntityTooLarge},
		"delivery, no identifier": {"/wsman/subscriptions/X", soap.EncodeUTF16LE([]byte(`<s:Envelope><s:Header><a:Action>` + soap.ActionHeartbeat + `</a:Action></s:Header><s:Body/></s:Envelope>`)), http.StatusBadRequest},
	} {
		resp, body := rawPost(t, f, "host1.example.test", tc.path, soapHeader, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d (%s), want %d", name, resp.StatusCode, body, tc.status)
		}
	}
	if !f.gw.logs.contains("refused request", "host=host1.example.test", "malformed SOAP envelope") {
		t.Error("no log line names the host and the reason for a malformed envelope")
	}
}

func TestReplayRealHandleEvents(t *testing.T) {
	path := samples.Path(t, "handle-events", "xml", "mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Split the <Events> document into its events.
	var events []string
	for _, part := range strings.Split(string(raw), "<Event xmlns")[1:] {
		ev := "<Event xmlns" + part
		ev = ev[:strings.LastIndex(ev, "</Event>")+len("</Event>")]
		events = append(events, ev)
	}
	want := 0
	for _, e := range events {
		if strings.Contains(e, "<EventID Qualifiers=\"\">4658</EventID>") || strings.Contains(e, "<EventID Qualifiers=\"\">4690</EventID>") {
			want++
		}
	}
	if want == 0 {
		t.Fatal("sample has no 4658/4690")
	}
	f := newHTTPSFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := f.host(t, "host1.example.test", forwarder.NewStaticLog(events)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	recs := waitOutput(t, filepath.Join(f.dir, "events.jsonl"), want)
	if len(recs) != want {
		t.Fatalf("exported %d records, want the %d handle events of %d", len(recs), want, len(events))
	}
	for _, r := range recs {
		if r.Resource["host.name"] != "jump01.offsec.lan" {
			t.Errorf("resource %v", r.Resource)
		}
	}
}
