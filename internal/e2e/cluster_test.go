package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pires/go-proxyproto"

	"wefgate/certs"
	"wefgate/internal/admin"
	"wefgate/internal/testkdc"
	"wefgate/internal/testotelcol"
	"wefgate/internal/testpg"
	"wefgate/wef/forwarder"
	"wefgate/wef/kerberos"
	"wefgate/wef/sldc"
)

// haproxyRequireEnv turns a missing HAProxy from a skip into a failure.
const haproxyRequireEnv = "WEFGATE_REQUIRE_HAPROXY"

// balancerSource is the loopback address HAProxy connects to the nodes
// from; the nodes trust PROXY headers from it only. The simulated hosts
// connect from 127.0.0.1.
const balancerSource = "127.0.0.2"

// clusterNodeConfig is one node of the cluster: its own data directory
// (spool), the shared PostgreSQL state, one server certificate and one
// keytab naming the balancer ("localhost"), the balancer's ports
// advertised.
const clusterNodeConfig = `data_dir: {{data}}
hostname: localhost
node:
  name: {{node}}
https:
  address: 127.0.0.1:{{https}}
  advertised_port: {{lb_https}}
  server_cert: {{pki}}/server.pem
  server_key: {{pki}}/server-key.pem
  ca_files: [{{pki}}/root-ca.pem, {{pki}}/issuing-ca.pem]
http:
  address: 127.0.0.1:{{http}}
  advertised_port: {{lb_http}}
  keytab: {{keytab}}
proxy_protocol:
  trusted_networks: [` + balancerSource + `/32]
state:
  backend: postgres
  postgres:
    url: {{pg}}
    max_connections: 4
admin:
  address: 127.0.0.1:{{admin}}
exporters:
  file:
    enabled: false
  otlp:
    endpoint: {{otlp}}
    protocol: http/protobuf
    insecure: true
spool:
  enabled: true
log:
  level: debug
`

// haproxyConfig balances both listeners over the two nodes in TCP mode,
// sending PROXY v2 headers from balancerSource. leastconn spreads the
// hosts' long-lived delivery connections over both nodes whatever the
// order of the short enumeration connections.
const haproxyConfig = `global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 15m
    timeout server 15m
    retries 3
    option redispatch
frontend wsman_https
    bind 127.0.0.1:{{lb_https}}
    default_backend nodes_https
frontend wsman_http
    bind 127.0.0.1:{{lb_http}}
    default_backend nodes_http
backend nodes_https
    balance leastconn
    server a 127.0.0.1:{{a_https}} source ` + balancerSource + ` send-proxy-v2 check inter 300ms fall 1 rise 1
    server b 127.0.0.1:{{b_https}} source ` + balancerSource + ` send-proxy-v2 check inter 300ms fall 1 rise 1
backend nodes_http
    balance leastconn
    server a 127.0.0.1:{{a_http}} source ` + balancerSource + ` send-proxy-v2 check inter 300ms fall 1 rise 1
    server b 127.0.0.1:{{b_http}} source ` + balancerSource + ` send-proxy-v2 check inter 300ms fall 1 rise 1
`

type clusterNode struct {
	name                string
	https, http, admin  int
	proc                *wefgateProcess
	dataDir, configPath string
}

// haproxyBinary finds haproxy, or skips (fails under
// WEFGATE_REQUIRE_HAPROXY=1).
func haproxyBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "haproxy is not installed (Debian package haproxy)"
	if os.Getenv(haproxyRequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startHAProxy runs haproxy in the foreground with cfgText, stopped by
// its PID at cleanup.
func startHAProxy(t *testing.T, bin, dir, cfgText string, ports ...int) *logBuffer {
	t.Helper()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	logOnFailure(t, "haproxy", logs)
	for _, p := range ports {
		waitUntil(t, 10*time.Second, fmt.Sprintf("haproxy listening on %d", p), func() bool {
			select {
			case err := <-done:
				t.Fatalf("haproxy exited: %v", err)
			default:
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	return logs
}

// bookmarkWatch polls the shared bookmarks table and records any record id
// that went down between two reads.
type bookmarkWatch struct {
	mu        sync.Mutex
	seen      map[string]uint64
	backwards []string
	reads     int
}

func (w *bookmarkWatch) run(ctx context.Context, t *testing.T, url string) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("bookmark watch: %v", err)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ctx.Err() == nil {
		rows, err := conn.Query(ctx, "SELECT identity_key, positions FROM bookmarks")
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("bookmark watch: %v", err)
			}
			return
		}
		pos := map[string]map[string]uint64{}
		for rows.Next() {
			var id string
			var p []byte
			if err := rows.Scan(&id, &p); err != nil {
				t.Errorf("bookmark watch: %v", err)
				return
			}
			var m map[string]uint64
			json.Unmarshal(p, &m)
			pos[id] = m
		}
		rows.Close()
		w.mu.Lock()
		w.reads++
		for id, m := range pos {
			for ch, n := range m {
				k := id + "/" + ch
				if n < w.seen[k] {
					w.backwards = append(w.backwards, fmt.Sprintf("%s went from %d to %d", k, w.seen[k], n))
				}
				w.seen[k] = n
			}
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterBehindHAProxy runs two wefgate nodes sharing PostgreSQL
// behind HAProxy (TCP, PROXY v2), with hosts delivering over HTTPS and
// Kerberos, kills one node mid-stream and brings it back.
func TestClusterBehindHAProxy(t *testing.T) {
	haproxy := haproxyBinary(t)
	if testotelcol.Binary() == "" {
		testotelcol.Start(t) // skips, or fails under WEFGATE_REQUIRE_OTELCOL
	}
	bin := wefgateBinary(t)
	pg := testpg.Start(t)
	kdc := testkdc.Start(t, "CORP.EXAMPLE")
	col := testotelcol.Start(t)
	dir := t.TempDir()

	tlsHosts := []string{"c1.corp.example", "c2.corp.example", "c3.corp.example"}
	krbHosts := []string{"WIN01$", "WIN02$"}
	pki, clients := testPKI(t, dir, tlsHosts...)
	keytab := kdc.ServiceKeytab(t, "localhost") // one keytab, SPNs on the balancer's name

	lbHTTPS, lbHTTP := freePort(t), freePort(t)
	nodes := []*clusterNode{{name: "node-a"}, {name: "node-b"}}
	for _, n := range nodes {
		n.https, n.http, n.admin = freePort(t), freePort(t), freePort(t)
		n.dataDir = filepath.Join(dir, n.name)
		if err := os.MkdirAll(n.dataDir, 0o750); err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer(
			"{{data}}", n.dataDir, "{{node}}", n.name, "{{pki}}", filepath.Join(dir, "pki"),
			"{{https}}", fmt.Sprint(n.https), "{{http}}", fmt.Sprint(n.http), "{{admin}}", fmt.Sprint(n.admin),
			"{{lb_https}}", fmt.Sprint(lbHTTPS), "{{lb_http}}", fmt.Sprint(lbHTTP),
			"{{keytab}}", keytab, "{{pg}}", pg.URL, "{{otlp}}", col.HTTPEndpoint(),
		).Replace(clusterNodeConfig)
		n.configPath = filepath.Join(n.dataDir, "wefgate.yaml")
		if err := os.WriteFile(n.configPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		n.proc = startWefgateProcess(t, bin, n.configPath)
		logOnFailure(t, n.name, n.proc.logs)
	}
	a, b := nodes[0], nodes[1]
	startHAProxy(t, haproxy, dir, strings.NewReplacer(
		"{{lb_https}}", fmt.Sprint(lbHTTPS), "{{lb_http}}", fmt.Sprint(lbHTTP),
		"{{a_https}}", fmt.Sprint(a.https), "{{b_https}}", fmt.Sprint(b.https),
		"{{a_http}}", fmt.Sprint(a.http), "{{b_http}}", fmt.Sprint(b.http),
	).Replace(haproxyConfig), lbHTTPS, lbHTTP)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watch := &bookmarkWatch{seen: map[string]uint64{}}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); watch.run(watchCtx, t, pg.URL) }()

	// The hosts know only the balancer.
	const perHost = 800
	rec := newAckRecorder()
	fwdLogs := &logBuffer{}
	logOnFailure(t, "forwarders", fwdLogs)
	var hosts []*forwarder.Host
	for _, h := range tlsHosts {
		hosts = append(hosts, ackingHost(t, pki, clients[h], fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", lbHTTPS),
			handleEventLog(h, 100, perHost, 200), rec, fwdLogs))
	}
	for _, p := range krbHosts {
		machine := strings.ToLower(strings.TrimSuffix(p, "$")) + ".corp.example"
		ini, err := kerberos.NewInitiatorWithKeytab(kdc.Krb5Conf(), kdc.Principal(p), kdc.ClientKeytab(t, p), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ini.Close)
		hosts = append(hosts, forwarder.NewHost(forwarder.HostConfig{
			MachineID:  machine,
			ManagerURL: fmt.Sprintf("http://localhost:%d/wsman/SubscriptionManager/WEC", lbHTTP),
			Client: &forwarder.Client{
				Security: forwarder.KerberosSecurity{Initiator: ini, Scheme: kerberos.SchemeKerberos, SPNPrefix: "HTTP"},
				Compress: sldc.Compress,
			},
			Log:             handleEventLog(machine, 100, perHost, 200),
			Logger:          slog.New(slog.NewTextHandler(fwdLogs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			StopWhenDrained: true,
			MaxRetryWait:    500 * time.Millisecond,
			MaxTime:         10 * time.Millisecond,
			OnAck:           rec.onAck(machine),
		}))
	}
	total := perHost * len(hosts)
	waitHosts := runHosts(ctx, hosts...)

	waitUntil(t, 60*time.Second, "a quarter of the events acknowledged", func() bool { return rec.count() >= total/4 })
	// With the Collector down, what node a acknowledges from now on stays
	// in its spool: it reaches the Collector only if node a, restarted,
	// drains it.
	col.Stop()
	batchesAtStop := adminStat(t, a.admin, "batches")
	waitUntil(t, 30*time.Second, "node a acknowledging into its spool", func() bool {
		return adminStat(t, a.admin, "batches") >= batchesAtStop+3
	})
	err := a.proc.kill()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("node a did not die of SIGKILL: %v", err)
	}
	atKill := rec.count()
	t.Logf("killed node a after %d of %d events acknowledged", atKill, total)
	waitUntil(t, 60*time.Second, "hosts carrying on through node b", func() bool { return rec.count() >= atKill+total/4 })
	t.Logf("node b alone took %d more events; restarting node a, then the Collector", rec.count()-atKill)
	a.proc.start()
	col.Restart(t)

	waitHosts(t)
	if got := rec.count(); got != total {
		t.Fatalf("hosts saw %d of their %d events acknowledged", got, total)
	}
	// Node a drained what it had spooled before the kill, node b its own.
	counts := waitAllArrived(t, col, rec.snapshot(), 60*time.Second)
	if len(counts) < total {
		t.Errorf("%d distinct events at the collector, want %d", len(counts), total)
	}
	stopWatch()
	<-watchDone
	watch.mu.Lock()
	if len(watch.backwards) > 0 {
		t.Errorf("bookmarks went backwards: %v", watch.backwards)
	}
	t.Logf("bookmark watch: %d reads, never backwards", watch.reads)
	watch.mu.Unlock()

	// client.address is the host's address (127.0.0.1), never the
	// balancer's; both nodes served.
	byNode := map[string]int{}
	for _, r := range col.Records(t) {
		if addr := r.Attributes["client.address"]; addr != "127.0.0.1" {
			t.Fatalf("client.address %v, want the host's 127.0.0.1", addr)
		}
		if id, _ := r.Resource["service.instance.id"].(string); id != "" {
			byNode[id]++
		}
	}
	t.Logf("records per node (service.instance.id): %v", byNode)
	if byNode["node-a"] == 0 || byNode["node-b"] == 0 {
		t.Errorf("records per node %v: both nodes should have exported", byNode)
	}
	for _, n := range nodes {
		if n.proc.logs.contains("remote=" + balancerSource) {
			t.Errorf("%s logged the balancer's address as a remote", n.name)
		}
	}

	// Every host once, the same on both nodes, with the node that last
	// saw it; its bookmark is the same whichever node it asks.
	var lists [2][]admin.Host
	for i, n := range nodes {
		lists[i] = adminHosts(t, n.admin)
	}
	if len(lists[0]) != len(hosts) {
		t.Fatalf("node a lists %d hosts, want %d: %+v", len(lists[0]), len(hosts), lists[0])
	}
	for i, h := range lists[0] {
		o := lists[1][i]
		if h.Identity != o.Identity || h.Node != o.Node || h.Events != o.Events {
			t.Errorf("nodes disagree on host %d: %+v vs %+v", i, h.HostState, o.HostState)
		}
		if h.Node != "node-a" && h.Node != "node-b" {
			t.Errorf("host %s last seen by %q", h.Identity, h.Node)
		}
		if h.Address != "127.0.0.1" {
			t.Errorf("host %s address %s", h.Identity, h.Address)
		}
	}
	for i, h := range tlsHosts {
		var got [2]string
		for j, n := range nodes {
			direct := tlsHostAt(t, pki, clients[h], fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", n.https))
			subs, err := direct.Enumerate(ctx)
			if err != nil || len(subs) != 1 {
				t.Fatalf("%s enumerating at %s: %v %v", h, n.name, subs, err)
			}
			got[j] = subs[0].Bookmark
		}
		want := fmt.Sprintf(`RecordId="%d"`, perHost)
		if got[0] != got[1] || !strings.Contains(got[0], want) {
			t.Errorf("host %d bookmark at node a %q, at node b %q; want %s at both", i, got[0], got[1], want)
		}
	}

	// A PROXY header straight from a host (not the balancer) is refused
	// and logged.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.https))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      &net.TCPAddr{IP: net.ParseIP("198.51.100.7"), Port: 40000},
		DestinationAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: b.https}}
	if _, err := hdr.WriteTo(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("untrusted PROXY header: read %d, %v; want the connection closed", n, err)
	}
	waitUntil(t, 10*time.Second, "the refusal logged", func() bool {
		return b.proc.logs.contains("untrusted peer", "remote=127.0.0.1", "claimed_source=198.51.100.7")
	})
}

// tlsHostAt is a host connecting to url directly, to read its bookmark.
func tlsHostAt(t *testing.T, pki *certs.PKI, cc *certs.ClientCert, url string) *forwarder.Host {
	t.Helper()
	return tlsHost(t, pki, cc, url, forwarder.NewStaticLog(nil))
}

// adminStat reads one counter of a node's /stats.
func adminStat(t *testing.T, port int, name string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("/stats: %v", err)
	}
	v, ok := m[name].(float64)
	if !ok {
		t.Fatalf("/stats has no %s: %v", name, m)
	}
	return v
}

func adminHosts(t *testing.T, port int) []admin.Host {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hosts", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/hosts: %s: %s", resp.Status, body)
	}
	var out []admin.Host
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/hosts: %v: %s", err, body)
	}
	return out
}
