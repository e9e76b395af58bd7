package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"wefgate/subscriptions"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestGPOPrintsBothListeners(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wefgate.yaml")
	yaml := "data_dir: " + dir + "\nhostname: wec.corp.example\nhttp:\n  keytab: " + filepath.Join(dir, "k.keytab") + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "gpo", "-config", cfg, "-refresh", "120")
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, "Server=http://wec.corp.example:5985/wsman/SubscriptionManager/WEC,Refresh=120") {
		t.Errorf("no Kerberos value in:\n%s", out)
	}
	if !regexp.MustCompile(`Server=HTTPS://wec\.corp\.example:5986/wsman/SubscriptionManager/WEC,Refresh=120,IssuerCA=[0-9A-F]{40}`).MatchString(out) {
		t.Errorf("no HTTPS value with an IssuerCA thumbprint in:\n%s", out)
	}
}

func TestCertsCreatesAndRevokes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	out, err := runCLI(t, "certs", "-dir", dir, "-server", "wec.corp.example", "-client", "win10.corp.example,win11.corp.example")
	if err != nil {
		t.Fatal(err, out)
	}
	if !regexp.MustCompile(`IssuerCA thumbprint: [0-9A-F]{40}`).MatchString(out) || !strings.Contains(out, "client win11.corp.example") {
		t.Errorf("certs output:\n%s", out)
	}
	out, err = runCLI(t, "certs", "-dir", dir, "-revoke", "win10.corp.example")
	if err != nil || !strings.Contains(out, "revoked win10.corp.example") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "certs", "-dir", dir, "-revoke", "nobody.corp.example"); err == nil {
		t.Error("revoking an unknown host succeeded")
	}
}

func TestCheckConfigAndErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("data_dir: "+dir+"\n"), 0o600)
	os.WriteFile(bad, []byte("spool:\n  max_byte: 1\n"), 0o600)
	if out, err := runCLI(t, "check-config", "-config", good); err != nil || !strings.Contains(out, "configuration OK") {
		t.Errorf("good config: %v %s", err, out)
	}
	if _, err := runCLI(t, "check-config", "-config", bad); err == nil || !strings.Contains(err.Error(), "max_byte") {
		t.Errorf("bad config: %v", err)
	}
	if _, err := runCLI(t, "frobnicate"); err == nil {
		t.Error("unknown subcommand accepted")
	}
	if _, err := runCLI(t, "forwarder"); err == nil {
		t.Error("forwarder without -url accepted")
	}
}

func TestCheckConfigAdminBeyondLoopback(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "admin.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	basicAuth := "\n  basic_auth: {username: ops, password_file: " + pw + "}"
	for _, tt := range []struct {
		address, extra string
		refused, warn  bool
	}{
		{"127.0.0.1:5980", "", false, false},
		{"[::1]:5980", "", false, false},
		{"localhost:5980", "", false, false},
		{":5980", "", false, false}, // a bare port binds to loopback
		{"0.0.0.0:5980", "", true, false},
		{"192.0.2.10:5980", "", true, false},
		{"192.0.2.10:5980", basicAuth, false, true},
	} {
		path := filepath.Join(dir, "admin.yaml")
		os.WriteFile(path, []byte("data_dir: "+dir+"\nadmin:\n  address: \""+tt.address+"\""+tt.extra+"\n"), 0o600)
		out, err := runCLI(t, "check-config", "-config", path)
		if (err != nil) != tt.refused {
			t.Fatalf("%s%s: error %v, want refused=%v", tt.address, tt.extra, err, tt.refused)
		}
		if tt.refused {
			if !strings.Contains(err.Error(), "admin.basic_auth or admin.client_ca_file") {
				t.Errorf("%s: refusal does not say how to protect it: %v", tt.address, err)
			}
			continue
		}
		if got := strings.Contains(out, "warning: admin.address"); got != tt.warn {
			t.Errorf("admin.address %s: warned %v, want %v:\n%s", tt.address, got, tt.warn, out)
		}
	}
}

func TestHostsOffline(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wefgate.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\n"), 0o600)
	store, err := subscriptions.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := subscriptions.Contact{Identity: "win10.corp.example", SubscriptionID: "28FCC206-1336-4E4A-B76B-18B0AB46E585", Subscription: "h", Address: "10.1.2.3", At: time.Now(), Events: 4}
	if err := store.CommitBatch(context.Background(), "", c); err != nil {
		t.Fatal(err)
	}
	// While a wefgate holds the store, the command says how to ask it.
	if _, err := runCLI(t, "hosts", "-config", cfg); err == nil || !strings.Contains(err.Error(), "admin.address") {
		t.Errorf("hosts on a locked store: %v", err)
	}
	store.Close()
	out, err := runCLI(t, "hosts", "-config", cfg)
	if err != nil || !strings.Contains(out, "win10.corp.example") || !strings.Contains(out, "active") || !strings.Contains(out, "10.1.2.3") {
		t.Fatalf("hosts: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, "hosts", "-config", cfg, "-state", "dead"); strings.Contains(out, "win10") {
		t.Errorf("dead filter listed an active host:\n%s", out)
	}
}

func TestHelpFlagsPrintTheSubcommands(t *testing.T) {
	for _, arg := range []string{"help", "-h", "-help", "--help"} {
		out, err := runCLI(t, arg)
		if err != nil || !strings.Contains(out, "wefgate check-config") {
			t.Errorf("wefgate %s: %v\n%s", arg, err, out)
		}
	}
}

func TestCertsCRLURLOnAnExistingPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if out, err := runCLI(t, "certs", "-dir", dir, "-server", "wec.corp.example"); err != nil {
		t.Fatal(err, out)
	}
	// The CAs were made without a CDP: a later -crl-url cannot be honoured.
	if _, err := runCLI(t, "certs", "-dir", dir, "-crl-url", "http://pki.corp.example/", "-client", "win10.corp.example"); err == nil || !strings.Contains(err.Error(), "created without a CRL URL") {
		t.Errorf("-crl-url on a PKI without one: %v", err)
	}
	withCRL := filepath.Join(t.TempDir(), "pki")
	if out, err := runCLI(t, "certs", "-dir", withCRL, "-server", "wec.corp.example", "-crl-url", "http://pki.corp.example/"); err != nil {
		t.Fatal(err, out)
	}
	if out, err := runCLI(t, "certs", "-dir", withCRL, "-crl-url", "http://pki.corp.example", "-client", "win10.corp.example"); err != nil {
		t.Errorf("the same CRL URL again: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "certs", "-dir", withCRL, "-crl-url", "http://other.corp.example/", "-client", "win11.corp.example"); err == nil || !strings.Contains(err.Error(), "http://pki.corp.example") {
		t.Errorf("another CRL URL: %v", err)
	}
}

// check-config runs before each start of the service: a file the start
// would fail to read is reported there, with its key.
func TestCheckConfigReadsTheFilesItNames(t *testing.T) {
	dir := t.TempDir()
	keytab := filepath.Join(dir, "wec.keytab")
	if err := os.WriteFile(keytab, []byte{5, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"present keytab", "http:\n  keytab: " + keytab + "\n", ""},
		{"missing keytab", "http:\n  keytab: " + filepath.Join(dir, "none.keytab") + "\n", "http.keytab"},
		{"keytab of a disabled listener", "http:\n  enabled: false\n  keytab: " + filepath.Join(dir, "none.keytab") + "\n", ""},
		{"missing CA file", "https:\n  ca_files: [" + keytab + ", " + filepath.Join(dir, "none.pem") + "]\n", "https.ca_files[1]"},
		{"missing admin password", "admin:\n  address: 127.0.0.1:5980\n  basic_auth: {username: a, password_file: " + filepath.Join(dir, "none") + "}\n", "admin.basic_auth.password_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "wefgate.yaml")
			if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\n"+c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runCLI(t, "check-config", "-config", cfg)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v\n%s", err, out)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("err = %v, want one naming %s\n%s", err, c.want, out)
			}
		})
	}
}

// With admin.address set and wefgate stopped, the command reads the store,
// as README says, instead of failing on the refused connection.
func TestHostsStoppedWithAdminAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().String()
	l.Close()
	for _, admin := range []string{
		"admin:\n  address: " + free + "\n",
		"admin:\n  address: " + free + "\n  cert_file: /none.pem\n  key_file: /none-key.pem\n",
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "wefgate.yaml")
		os.WriteFile(cfg, []byte("data_dir: "+dir+"\n"+admin), 0o600)
		store, err := subscriptions.OpenBolt(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		c := subscriptions.Contact{Identity: "win10.corp.example", SubscriptionID: "28FCC206-1336-4E4A-B76B-18B0AB46E585", Subscription: "h", Address: "10.1.2.3", At: time.Now(), Events: 4}
		if err := store.CommitBatch(context.Background(), "", c); err != nil {
			t.Fatal(err)
		}
		store.Close()
		out, err := runCLI(t, "hosts", "-config", cfg)
		if err != nil || !strings.Contains(out, "win10.corp.example") {
			t.Errorf("%s: %v\n%s", admin, err, out)
		}
	}
}
