package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"wefgate/certs"

	"wefgate/internal/testkdc"
	"wefgate/wef/forwarder"
	"wefgate/wef/kerberos"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

const kerberosConfig = `
data_dir: {{data}}
hostname: localhost
https:
  enabled: false
http:
  address: 127.0.0.1:{{port}}
  keytab: {{keytab}}
subscriptions:
  - name: handle-manipulation
    xpath: "*"
exporters:
  file:
    path: {{data}}/events.jsonl
`

type kerberosFixture struct {
	kdc *testkdc.KDC
	dir string
	gw  *gateway
}

func newKerberosFixture(t *testing.T, keytab func(*testkdc.KDC) string) *kerberosFixture {
	t.Helper()
	kdc := testkdc.Start(t, "CORP.EXAMPLE")
	dir := t.TempDir()
	yaml := strings.ReplaceAll(kerberosConfig, "{{keytab}}", keytab(kdc))
	return &kerberosFixture{kdc: kdc, dir: dir, gw: startGateway(t, dir, yaml, freePort(t))}
}

func (f *kerberosFixture) managerURL() string {
	return fmt.Sprintf("http://localhost:%d/wsman/SubscriptionManager/WEC", f.gw.port)
}

func (f *kerberosFixture) initiator(t *testing.T, name string) *kerberos.Initiator {
	t.Helper()
	ini, err := kerberos.NewInitiatorWithKeytab(f.kdc.Krb5Conf(), f.kdc.Principal(name), f.kdc.ClientKeytab(t, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ini.Close)
	return ini
}

func TestKerberosEnrollAndDeliver(t *testing.T) {
	f := newKerberosFixture(t, func(k *testkdc.KDC) string { return k.ServiceKeytab(t, "localhost") })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cases := []struct {
		host, scheme, prefix string
	}{
		{"WIN10$", kerberos.SchemeKerberos, "HTTP"},
		{"WIN11$", kerberos.SchemeNegotiate, "HTTP"},
		{"SRV2025$", kerberos.SchemeKerberos, "HOST"},
		{"SRV2022$", kerberos.SchemeNegotiate, "HOST"},
	}
	var record uint64 = 1000
	for _, tc := range cases {
		machine := strings.ToLower(strings.TrimSuffix(tc.host, "$")) + ".corp.example"
		var events []string
		for _, id := range []int{4658, 4624, 4690} {
			record++
			events = append(events, testEvent(id, record, machine, map[string]string{"HandleId": "0x44", "ProcessId": "0x4"}))
		}
		h := forwarder.NewHost(forwarder.HostConfig{
			MachineID:  machine,
			ManagerURL: f.managerURL(),
			Client: &forwarder.Client{
				Security: forwarder.KerberosSecurity{Initiator: f.initiator(t, tc.host), Scheme: tc.scheme, SPNPrefix: tc.prefix},
				// Batches travel SLDC-compressed, then sealed, as from Windows.
				Compress: sldc.Compress,
			},
			Log: forwarder.NewStaticLog(events), StopWhenDrained: true, MaxRetryWait: 500 * time.Millisecond,
		})
		subs, err := h.Enumerate(ctx)
		if err != nil {
			t.Fatalf("%s/%s/%s: enumerate: %v", tc.host, tc.scheme, tc.prefix, err)
		}
		if len(subs) != 1 || subs[0].Auth.Profile != soap.ProfileKerberos || !strings.HasPrefix(subs[0].Address, "http://localhost:") ||
			subs[0].Compression != "SLDC" {
			t.Fatalf("%s: subscription %+v", tc.host, subs)
		}
		// Run enumerates again and delivers on a new connection, which
		// must authenticate on its own.
		if err := h.Run(ctx); err != nil {
			t.Fatalf("%s/%s/%s: deliver: %v", tc.host, tc.scheme, tc.prefix, err)
		}
	}
	// The shipper exports after the acknowledgement, not before it.
	var recs []outputRecord
	waitUntil(t, 10*time.Second, "every exported record", func() bool {
		recs = readOutput(t, filepath.Join(f.dir, "events.jsonl"))
		return len(recs) >= 2*len(cases)
	})
	if len(recs) != 2*len(cases) {
		t.Fatalf("exported %d records, want %d", len(recs), 2*len(cases))
	}
	for i, r := range recs {
		want := f.kdc.Principal(cases[i/2].host)
		if r.Attributes["wef.host.identity"] != want {
			t.Errorf("record %d identity %v, want %s", i, r.Attributes["wef.host.identity"], want)
		}
	}
	if !f.gw.logs.contains("host authenticated", "scheme=Negotiate", "service=HOST/localhost") {
		t.Error("no log line for a Negotiate authentication with a HOST/ ticket")
	}
}

// rawHTTP sends one request on conn and reads the answer.
func rawHTTP(t *testing.T, conn net.Conn, header http.Header, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://localhost/wsman/SubscriptionManager/WEC", bytes.NewReader(body))
	req.Header = header
	req.Header.Set("Content-Type", soap.ContentType)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestKerberosRefusals(t *testing.T) {
	f := newKerberosFixture(t, func(k *testkdc.KDC) string { return k.ServiceKeytab(t, "localhost") })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", f.gw.port)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ini := f.initiator(t, "WIN10$")

	// No Authorization: 401 offering both schemes.
	resp := rawHTTP(t, dial(), http.Header{}, soap.EncodeUTF16LE([]byte("<s:Envelope/>")))
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Header.Values("WWW-Authenticate")) != 2 {
		t.Fatalf("unauthenticated: %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	// A good token authenticates; the same token again is a replay.
	token, _, err := ini.Start(ctx, "HTTP/localhost", kerberos.SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	authz := http.Header{"Authorization": {"Kerberos " + base64.StdEncoding.EncodeToString(token)}}
	conn := dial()
	if resp := rawHTTP(t, conn, authz, nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Kerberos ") {
		t.Fatalf("good token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// An authenticated connection still refuses a plain body.
	if resp := rawHTTP(t, conn, http.Header{}, soap.EncodeUTF16LE([]byte("<s:Envelope/>"))); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain body on the Kerberos listener: %d, want 400", resp.StatusCode)
	}
	if resp := rawHTTP(t, dial(), authz, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed authenticator: %d, want 401", resp.StatusCode)
	}

	// A tampered token.
	token, _, err = ini.Start(ctx, "HTTP/localhost", kerberos.SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	token[len(token)-20] ^= 0xFF
	if resp := rawHTTP(t, dial(), http.Header{"Authorization": {"Kerberos " + base64.StdEncoding.EncodeToString(token)}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered token: %d, want 401", resp.StatusCode)
	}

	// A ticket for another service.
	f.kdc.AddPrincipal(t, "HTTP/other.example.test", "-randkey")
	token, _, err = ini.Start(ctx, "HTTP/other.example.test", kerberos.SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	if resp := rawHTTP(t, dial(), http.Header{"Authorization": {"Kerberos " + base64.StdEncoding.EncodeToString(token)}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ticket for another service: %d, want 401", resp.StatusCode)
	}
	for _, want := range []string{"replay", "other.example.test"} {
		if !f.gw.logs.contains("kerberos authentication refused", want) {
			t.Errorf("no refusal log line mentioning %q", want)
		}
	}
}

func TestKerberosWrongKeyVersion(t *testing.T) {
	f := newKerberosFixture(t, func(k *testkdc.KDC) string { return k.StaleServiceKeytab(t, "localhost") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := forwarder.NewHost(forwarder.HostConfig{
		MachineID: "win10.corp.example", ManagerURL: f.managerURL(),
		Client: &forwarder.Client{Security: forwarder.KerberosSecurity{Initiator: f.initiator(t, "WIN10$")}},
		Log:    forwarder.NewStaticLog(nil),
	})
	if _, err := h.Enumerate(ctx); !forwarder.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("stale keytab: %v, want 401", err)
	}
	if !f.gw.logs.contains("kerberos authentication refused", "kvno") {
		t.Error("no log line names the key version problem")
	}
}

// TestBothListeners runs the Kerberos and the certificate listener in one
// process: each host gets the delivery address and policy of the listener
// it came in on, and both deliver.
func TestBothListeners(t *testing.T) {
	kdc := testkdc.Start(t, "CORP.EXAMPLE")
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pki.IssueClient("host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	httpPort := freePort(t)
	yaml := strings.NewReplacer("{{keytab}}", kdc.ServiceKeytab(t, "localhost"), "{{httpport}}", fmt.Sprint(httpPort)).Replace(`
data_dir: {{data}}
hostname: localhost
https:
  address: 127.0.0.1:{{port}}
  server_cert: {{data}}/pki/server.pem
  server_key: {{data}}/pki/server-key.pem
  ca_files: [{{data}}/pki/root-ca.pem, {{data}}/pki/issuing-ca.pem]
http:
  address: 127.0.0.1:{{httpport}}
  keytab: {{keytab}}
subscriptions:
  - name: handle-manipulation
    xpath: "*"
exporters:
  file:
    path: {{data}}/events.jsonl
`)
	gw := startGateway(t, dir, yaml, freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ini, err := kerberos.NewInitiatorWithKeytab(kdc.Krb5Conf(), kdc.Principal("WIN10$"), kdc.ClientKeytab(t, "WIN10$"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ini.Close()
	krbHost := forwarder.NewHost(forwarder.HostConfig{
		MachineID: "win10.corp.example", ManagerURL: fmt.Sprintf("http://localhost:%d/wsman/SubscriptionManager/WEC", httpPort),
		Client: &forwarder.Client{Security: forwarder.KerberosSecurity{Initiator: ini}, Compress: sldc.Compress},
		Log:    forwarder.NewStaticLog([]string{testEvent(4690, 1, "win10.corp.example", map[string]string{"SourceProcessId": "0x4"})}), StopWhenDrained: true,
	})
	tlsH := tlsHost(t, pki, cc, gw.managerURL(), forwarder.NewStaticLog([]string{testEvent(4658, 1, "host1.example.test", map[string]string{"ProcessId": "0x4"})}))

	for name, h := range map[string]*forwarder.Host{"kerberos": krbHost, "tls": tlsH} {
		subs, err := h.Enumerate(ctx)
		if err != nil || len(subs) != 1 {
			t.Fatalf("%s: %v %+v", name, err, subs)
		}
		s := subs[0]
		switch name {
		case "kerberos":
			if s.Auth.Profile != soap.ProfileKerberos || !strings.HasPrefix(s.Address, fmt.Sprintf("http://localhost:%d/", httpPort)) {
				t.Errorf("kerberos host offered %s at %s", s.Auth.Profile, s.Address)
			}
		case "tls":
			if s.Auth.Profile != soap.ProfileMutual || !strings.HasPrefix(s.Address, fmt.Sprintf("https://localhost:%d/", gw.port)) || s.Auth.IssuerThumbprint == "" {
				t.Errorf("tls host offered %+v at %s", s.Auth, s.Address)
			}
		}
		if err := h.Run(ctx); err != nil {
			t.Fatalf("%s: deliver: %v", name, err)
		}
	}
	// The shipper exports after the acknowledgement, not before it.
	var recs []outputRecord
	waitUntil(t, 10*time.Second, "two exported records", func() bool {
		recs = readOutput(t, filepath.Join(dir, "events.jsonl"))
		return len(recs) >= 2
	})
	ids := map[any]bool{}
	for _, r := range recs {
		ids[r.Attributes["wef.host.identity"]] = true
	}
	if len(recs) != 2 || !ids["WIN10$@CORP.EXAMPLE"] || !ids["host1.example.test"] {
		t.Fatalf("records from %v", ids)
	}
}
