package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/wef/forwarder"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// reloadConfig is the configuration the reload test rewrites; {{extra}}
// adds subscriptions, {{denied}} is the first one's denied_hosts.
const reloadConfig = `
data_dir: {{data}}
hostname: localhost
https:
  address: 127.0.0.1:{{port}}
  server_cert: {{data}}/pki/server.pem
  server_key: {{data}}/pki/server-key.pem
  ca_files: [{{cafiles}}]
subscriptions:
  - name: handle-manipulation
    xpath: "*"
    heartbeat_interval: {{heartbeat}}
    denied_hosts: [{{denied}}]
{{extra}}
exporters:
  file:
    path: {{data}}/events.jsonl
spool:
  max_bytes: {{spool}}
log:
  level: {{level}}
admin:
  address: 127.0.0.1:{{adminport}}
`

// countingSecurity counts the connections a simulated host opens to
// delivery addresses, to show that a reload closes none.
type countingSecurity struct {
	forwarder.TLSSecurity
	deliveryDials atomic.Int32
}

func (s *countingSecurity) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	if strings.Contains(u.Path, soap.DeliveryPath) {
		s.deliveryDials.Add(1)
	}
	return s.TLSSecurity.Dial(ctx, u)
}

// TestReload runs the real binary and changes its configuration under it:
// host filters, a new subscription, the log level and the CA files take
// effect on SIGHUP ('wefgate reload') without closing the connection of a
// host; a subscription keeps its version unless a client-visible parameter
// changed; an invalid configuration is refused whole with the reason in
// the log; restart-only changes are named.
func TestReload(t *testing.T) {
	bin := wefgateBinary(t)
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "other"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	port, adminPort := freePort(t), freePort(t)
	adminURL := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	cfgPath := filepath.Join(dir, "wefgate.yaml")
	ownCAs := pki.Path(certs.RootCAFile) + ", " + pki.Path(certs.IssuingCAFile)
	vars := map[string]string{
		"{{port}}": fmt.Sprint(port), "{{data}}": dir, "{{cafiles}}": ownCAs, "{{heartbeat}}": "1h",
		"{{denied}}": `"host2*"`, "{{extra}}": "", "{{spool}}": "1073741824", "{{level}}": "info",
		"{{adminport}}": fmt.Sprint(adminPort),
	}
	write := func(changes map[string]string) {
		t.Helper()
		for k, v := range changes {
			vars[k] = v
		}
		text := reloadConfig
		for k, v := range vars {
			text = strings.ReplaceAll(text, k, v)
		}
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(nil)
	gw := startWefgateProcess(t, bin, cfgPath)
	logOnFailure(t, "wefgate", gw.logs)
	reloads := 0
	reload := func(wantLog string) {
		t.Helper()
		out, err := exec.Command(bin, "reload", "-config", cfgPath).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "sent SIGHUP") {
			t.Fatalf("wefgate reload: %v\n%s", err, out)
		}
		reloads++
		n := reloads
		waitUntil(t, 20*time.Second, wantLog, func() bool { return countLogLines(gw.logs, wantLog) >= n })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	managerURL := fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", port)
	newHost := func(p *certs.PKI, fqdn string) (*forwarder.Host, *countingSecurity) {
		t.Helper()
		cc, err := p.IssueClient(fqdn)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{pki.Path(certs.RootCAFile)}, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		sec := &countingSecurity{TLSSecurity: forwarder.TLSSecurity{Config: cfg}}
		return forwarder.NewHost(forwarder.HostConfig{
			MachineID: fqdn, ManagerURL: managerURL, Log: forwarder.NewStaticLog(nil),
			Client: &forwarder.Client{Security: sec, Compress: sldc.Compress},
		}), sec
	}
	offered := func(h *forwarder.Host) map[string]soap.Subscription {
		t.Helper()
		subs, err := h.Enumerate(ctx)
		if err != nil {
			t.Fatalf("enumerate: %v", err)
		}
		m := map[string]soap.Subscription{}
		for _, s := range subs {
			m[s.Name] = s
		}
		return m
	}

	h1, sec1 := newHost(pki, "host1.example.test")
	h2, _ := newHost(pki, "host2.example.test")
	first := offered(h1)["handle-manipulation"]
	if first.Version == "" {
		t.Fatal("handle-manipulation not offered to host1")
	}
	if err := h1.Heartbeat(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, ok := offered(h2)["handle-manipulation"]; ok {
		t.Fatal("denied host2 offered the subscription")
	}
	if strings.Contains(strings.Join(gw.logs.snapshot(), "\n"), "level=DEBUG") {
		t.Fatal("debug lines at level info")
	}

	// 1. Host filter, a new subscription and the log level: no restart.
	write(map[string]string{"{{denied}}": "", "{{level}}": "debug", "{{extra}}": "  - name: application\n    channel: Application\n"})
	reload("configuration reloaded")
	after := offered(h1)
	if after["handle-manipulation"].Version != first.Version {
		t.Errorf("version changed from %s to %s though nothing a host sees did", first.Version, after["handle-manipulation"].Version)
	}
	if _, ok := after["application"]; !ok {
		t.Error("the subscription added by the reload is not offered")
	}
	if _, ok := offered(h2)["handle-manipulation"]; !ok {
		t.Error("host2 still denied after the filter was removed")
	}
	if err := h1.Heartbeat(ctx, first); err != nil {
		t.Fatalf("heartbeat after reload: %v", err)
	}
	if n := sec1.deliveryDials.Load(); n != 1 {
		t.Errorf("host1 opened %d delivery connections: the reload closed its connection", n)
	}
	waitUntil(t, 5*time.Second, "a debug line after the reload", func() bool { return gw.logs.contains("level=DEBUG", "heartbeat") })
	if !gw.logs.contains("configuration reload: subscription added", "subscription=application") {
		t.Error("no log line names the added subscription")
	}

	// 2. A client-visible change: the version changes, hosts re-subscribe.
	write(map[string]string{"{{heartbeat}}": "30m"})
	reload("configuration reloaded")
	if v := offered(h1)["handle-manipulation"].Version; v == first.Version {
		t.Error("heartbeat_interval changed but the version did not")
	}
	if !gw.logs.contains("subscription changed; its hosts re-subscribe", "subscription=handle-manipulation") {
		t.Error("no log line says which subscription's hosts re-subscribe")
	}

	// 3. CA files: a host of another CA gets in after it is added.
	h3, _ := newHost(other, "host3.example.test")
	if _, err := h3.Enumerate(ctx); err == nil {
		t.Fatal("host of a CA not configured accepted")
	}
	write(map[string]string{"{{cafiles}}": ownCAs + ", " + other.Path(certs.RootCAFile) + ", " + other.Path(certs.IssuingCAFile)})
	reload("configuration reloaded")
	if _, ok := offered(h3)["handle-manipulation"]; !ok {
		t.Error("host of the CA added by the reload not offered its subscription")
	}

	// 4. Refused whole: an unknown key ('wefgate reload' does not even
	// send), then a CA file that cannot be read (SIGHUP sent directly)
	// next to a new subscription that must not appear.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(mustRead(t, cfgPath), "log:\n", "log:\n  colour: true\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "reload", "-config", cfgPath).CombinedOutput(); err == nil || !strings.Contains(string(out), "colour") {
		t.Errorf("wefgate reload with an unknown key: %v\n%s", err, out)
	}
	if err := syscall.Kill(gw.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the refusal of the unknown key", func() bool {
		return gw.logs.contains("configuration reload refused", "colour")
	})
	write(map[string]string{"{{cafiles}}": ownCAs + ", " + filepath.Join(dir, "missing-ca.pem"), "{{extra}}": "  - name: application\n    channel: Application\n  - name: never\n    channel: System\n"})
	if err := syscall.Kill(gw.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the refusal of the missing CA file", func() bool {
		return gw.logs.contains("configuration reload refused", "missing-ca.pem")
	})
	if _, ok := offered(h1)["never"]; ok {
		t.Error("a subscription from the refused configuration is offered")
	}
	if _, ok := offered(h3)["handle-manipulation"]; !ok {
		t.Error("the refused configuration dropped the CA that was running")
	}
	fam := scrapeMetrics(t, adminURL)
	if v := value(fam, "wefgate_config_last_reload_successful", nil); v != 0 {
		t.Errorf("wefgate_config_last_reload_successful = %v after a refused reload, want 0", v)
	}
	if v := value(fam, "wefgate_config_reloads_total", map[string]string{"result": "refused"}); v != 2 {
		t.Errorf("refused reloads = %v, want 2", v)
	}
	if v := value(fam, "wefgate_config_reloads_total", map[string]string{"result": "applied"}); v != 3 {
		t.Errorf("applied reloads = %v, want 3", v)
	}

	// 5. A restart-only change is applied at the next start, and named.
	write(map[string]string{"{{cafiles}}": ownCAs, "{{extra}}": "", "{{spool}}": "536870912"})
	reload("configuration reloaded")
	if !gw.logs.contains("some changes need a restart", "spool.max_bytes") {
		t.Error("the restart-only change is not named in the log")
	}
	if v := value(scrapeMetrics(t, adminURL), "wefgate_config_last_reload_successful", nil); v != 1 {
		t.Errorf("wefgate_config_last_reload_successful = %v after an applied reload, want 1", v)
	}
	if gw.cmd.ProcessState != nil {
		t.Fatal("wefgate exited during the reloads")
	}
}

func countLogLines(b *logBuffer, substr string) int {
	n := 0
	for _, l := range b.snapshot() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func (b *logBuffer) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
