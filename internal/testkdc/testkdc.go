// Package testkdc runs a throw-away MIT Kerberos realm for tests: database,
// principals and keytabs in a temporary directory and a krb5kdc process on a
// free loopback port, all without root, systemd or DNS.
//
// Tests skip when the MIT KDC tools are not installed, unless the
// environment variable WEFGATE_REQUIRE_KDC=1 is set, in which case they fail.
package testkdc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"wefgate/internal/loopback"
)

// RequireEnv names the environment variable that turns a missing KDC
// installation from a skip into a failure.
const RequireEnv = "WEFGATE_REQUIRE_KDC"

// DefaultRealm is used when Start is given an empty realm.
const DefaultRealm = "EXAMPLE.TEST"

// KDC is a running throw-away realm. Its methods may be called from the
// test goroutine that started it and from subtests; keytab files are
// written below the KDC's temporary directory.
type KDC struct {
	realm    string
	dir      string
	port     int
	krb5Conf string
	kdcConf  string
	tools    map[string]string

	mu       sync.Mutex // serialises kadmin.local and keytab numbering
	keytabNo int
}

// Start creates a realm (DefaultRealm if realm is empty) with the given
// principals (random keys), starts krb5kdc and stops it at test cleanup.
// Principal names are given without realm, e.g. "WIN10$" or
// "HTTP/wec.example.test".
func Start(t testing.TB, realm string, principals ...string) *KDC {
	t.Helper()
	if realm == "" {
		realm = DefaultRealm
	}
	tools := findTools(t, "krb5kdc", "kdb5_util", "kadmin.local")

	k := &KDC{realm: realm, dir: t.TempDir(), tools: tools}
	k.krb5Conf = filepath.Join(k.dir, "krb5.conf")
	k.kdcConf = filepath.Join(k.dir, "kdc.conf")

	var lastErr error
	// Picking a free port and handing it to krb5kdc races with other
	// processes binding it meanwhile; a few attempts make that harmless.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := loopback.FreePort()
		if err != nil {
			t.Fatalf("testkdc: %v", err)
		}
		k.port = port
		if err := k.writeConfig(); err != nil {
			t.Fatalf("testkdc: %v", err)
		}
		if attempt == 0 {
			k.createDatabase(t)
			for _, p := range principals {
				k.AddPrincipal(t, p)
			}
		}
		if lastErr = k.startDaemon(t); lastErr == nil {
			return k
		}
	}
	t.Fatalf("testkdc: %v", lastErr)
	return nil
}

// findTools locates the MIT binaries, also in the sbin directories that a
// non-root PATH often lacks.
func findTools(t testing.TB, names ...string) map[string]string {
	t.Helper()
	found := make(map[string]string, len(names))
	var missing []string
	for _, name := range names {
		path, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
				candidate := filepath.Join(dir, name)
				if fi, statErr := os.Stat(candidate); statErr == nil && fi.Mode()&0o111 != 0 {
					path, err = candidate, nil
					break
				}
			}
		}
		if err != nil {
			missing = append(missing, name)
			continue
		}
		found[name] = path
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("testkdc: MIT Kerberos tools not installed (%s); install krb5-kdc krb5-admin-server krb5-user", strings.Join(missing, ", "))
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return found
}

func (k *KDC) writeConfig() error {
	hostPort := "127.0.0.1:" + strconv.Itoa(k.port)
	// Clients ask for AES only (gokrb5 would otherwise offer RC4), but the
	// KDC may still issue a ticket under an RC4-only service key, so tests
	// can present one to an acceptor.
	krb5 := fmt.Sprintf(`[libdefaults]
    default_realm = %[1]s
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ticket_lifetime = 10h
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    %[1]s = {
        kdc = %[2]s
    }

[domain_realm]
    .example.test = %[1]s
    example.test = %[1]s
`, k.realm, hostPort)
	kdc := fmt.Sprintf(`[kdcdefaults]
    kdc_listen = %[2]s
    kdc_tcp_listen = %[2]s

[realms]
    %[1]s = {
        database_name = %[3]s
        key_stash_file = %[4]s
        acl_file = %[5]s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        max_life = 10h
    }

[logging]
    kdc = FILE:%[6]s
`, k.realm, hostPort, filepath.Join(k.dir, "db", "principal"), filepath.Join(k.dir, "db", "stash"),
		filepath.Join(k.dir, "kadm5.acl"), filepath.Join(k.dir, "kdc.log"))
	if err := os.MkdirAll(filepath.Join(k.dir, "db"), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	for path, content := range map[string]string{k.krb5Conf: krb5, k.kdcConf: kdc, filepath.Join(k.dir, "kadm5.acl"): ""} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}

// Env returns the environment variables that point MIT tools and libraries
// (kinit, python-gssapi) at this realm instead of the system configuration.
func (k *KDC) Env() []string {
	return []string{
		"KRB5_CONFIG=" + k.krb5Conf,
		"KRB5_KDC_PROFILE=" + k.kdcConf,
		"KRB5CCNAME=FILE:" + filepath.Join(k.dir, "ccache"),
		"KRB5RCACHETYPE=none",
	}
}

func (k *KDC) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.tools[tool], args...)
	cmd.Env = append(os.Environ(), k.Env()...)
	cmd.Dir = k.dir
	return cmd
}

func (k *KDC) createDatabase(t testing.TB) {
	t.Helper()
	var master [12]byte
	if _, err := rand.Read(master[:]); err != nil {
		t.Fatalf("testkdc: master password: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := k.command(ctx, "kdb5_util", "create", "-s", "-r", k.realm, "-P", hex.EncodeToString(master[:])).CombinedOutput()
	if err != nil {
		t.Fatalf("testkdc: kdb5_util create: %v\n%s", err, out)
	}
}

func (k *KDC) startDaemon(t testing.TB) error {
	t.Helper()
	cmd := k.command(context.Background(), "krb5kdc", "-n", "-r", k.realm)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start krb5kdc: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	addr := "127.0.0.1:" + strconv.Itoa(k.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("krb5kdc exited during start-up: %s\n%s", output.String(), k.Log())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("krb5kdc not accepting on %s after 10s: %w\n%s", addr, err, k.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return nil
}

// Realm returns the realm name.
func (k *KDC) Realm() string { return k.realm }

// Krb5Conf returns the path of a krb5.conf that points at this KDC.
func (k *KDC) Krb5Conf() string { return k.krb5Conf }

// Address returns the KDC's host:port.
func (k *KDC) Address() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// Dir returns the realm's temporary directory.
func (k *KDC) Dir() string { return k.dir }

// Principal qualifies name with the realm, e.g. "WIN10$" → "WIN10$@EXAMPLE.TEST".
func (k *KDC) Principal(name string) string { return name + "@" + k.realm }

// Log returns the KDC log, for failure messages.
func (k *KDC) Log() string {
	b, err := os.ReadFile(filepath.Join(k.dir, "kdc.log"))
	if err != nil {
		return fmt.Sprintf("(no KDC log: %v)", err)
	}
	return string(b)
}

// Kadmin runs one kadmin.local query and fails the test if it reports an
// error. kadmin.local exits 0 even when a query fails, so its stderr is
// inspected instead.
func (k *KDC) Kadmin(t testing.TB, query string) string {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	out, err := k.kadmin(query)
	if err != nil {
		t.Fatalf("testkdc: %v", err)
	}
	return out
}

func (k *KDC) kadmin(query string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := k.command(ctx, "kadmin.local", "-r", k.realm, "-q", query)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kadmin.local %q: %w\n%s", query, err, stderr.String())
	}
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Contains(strings.ToLower(line), "policy") {
			continue
		}
		return "", fmt.Errorf("kadmin.local %q: %s", query, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// AddPrincipal creates a principal. Without kadminArgs it gets a random key;
// otherwise the arguments are passed to addprinc as given, e.g.
// "-pw", "secret" or "-randkey", "-e", "arcfour-hmac:normal".
func (k *KDC) AddPrincipal(t testing.TB, name string, kadminArgs ...string) {
	t.Helper()
	if len(kadminArgs) == 0 {
		kadminArgs = []string{"-randkey"}
	}
	k.Kadmin(t, "addprinc "+strings.Join(quoteAll(kadminArgs), " ")+" "+quote(name))
}

func (k *KDC) hasPrincipal(name string) bool {
	out, err := k.kadmin("getprinc " + quote(name))
	return err == nil && strings.Contains(out, "Principal:")
}

func (k *KDC) ensurePrincipal(t testing.TB, name string, kadminArgs ...string) {
	t.Helper()
	k.mu.Lock()
	exists := k.hasPrincipal(name)
	k.mu.Unlock()
	if !exists {
		k.AddPrincipal(t, name, kadminArgs...)
	}
}

// Keytab writes the current keys of existing principals into a new keytab
// file and returns its path. Keys are exported with -norandkey, so earlier
// keytabs and passwords stay valid.
func (k *KDC) Keytab(t testing.TB, principals ...string) string {
	t.Helper()
	k.mu.Lock()
	k.keytabNo++
	path := filepath.Join(k.dir, fmt.Sprintf("keytab-%d.keytab", k.keytabNo))
	k.mu.Unlock()
	k.Kadmin(t, "ktadd -norandkey -k "+quote(path)+" "+strings.Join(quoteAll(principals), " "))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("testkdc: keytab for %v not written: %v", principals, err)
	}
	return path
}

// ServiceKeytab returns a keytab holding HTTP/host and HOST/host, creating
// those principals if needed, as a Windows collector's keytab would.
func (k *KDC) ServiceKeytab(t testing.TB, host string) string {
	t.Helper()
	spns := []string{"HTTP/" + host, "HOST/" + host}
	for _, spn := range spns {
		k.ensurePrincipal(t, spn)
	}
	return k.Keytab(t, spns...)
}

// StaleServiceKeytab returns a keytab for HTTP/host and HOST/host whose keys
// the KDC has since replaced (kvno bumped), like a collector keytab after an
// AD password change. Keytabs for host exported earlier become stale too, so
// use a host of its own.
func (k *KDC) StaleServiceKeytab(t testing.TB, host string) string {
	t.Helper()
	path := k.ServiceKeytab(t, host)
	for _, spn := range []string{"HTTP/" + host, "HOST/" + host} {
		k.Kadmin(t, "cpw -randkey "+quote(spn))
	}
	return path
}

// ClientKeytab returns a keytab for a client principal such as "WIN10$",
// creating it with pre-authentication required (as AD machine accounts
// are) if needed.
func (k *KDC) ClientKeytab(t testing.TB, name string) string {
	t.Helper()
	k.ensurePrincipal(t, name, "-randkey", "+requires_preauth")
	return k.Keytab(t, name)
}

// quote protects a kadmin.local argument; kadmin splits its query string
// on blanks and understands double quotes.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}
