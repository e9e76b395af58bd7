package testkdc

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

func loadKeytab(t *testing.T, path string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatalf("load keytab %s: %v", path, err)
	}
	return kt
}

func TestRealmIssuesServiceTickets(t *testing.T) {
	kdc := Start(t, "", "extra/principal")
	if kdc.Realm() != DefaultRealm {
		t.Fatalf("realm %q", kdc.Realm())
	}
	kdc.Kadmin(t, "getprinc extra/principal")

	serviceKT := loadKeytab(t, kdc.ServiceKeytab(t, "wec.example.test"))
	spns := map[string]bool{}
	for _, e := range serviceKT.Entries {
		spns[e.Principal.Components[0]+"/"+e.Principal.Components[1]] = true
	}
	if !spns["HTTP/wec.example.test"] || !spns["HOST/wec.example.test"] {
		t.Fatalf("service keytab principals %v", spns)
	}

	cfg, err := config.Load(kdc.Krb5Conf())
	if err != nil {
		t.Fatalf("load krb5.conf: %v", err)
	}
	clientKT := loadKeytab(t, kdc.ClientKeytab(t, "WIN10$"))
	cl := client.NewWithKeytab("WIN10$", kdc.Realm(), clientKT, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("login with client keytab: %v\n%s", err, kdc.Log())
	}
	defer cl.Destroy()

	for _, spn := range []string{"HTTP/wec.example.test", "HOST/wec.example.test"} {
		tkt, _, err := cl.GetServiceTicket(spn)
		if err != nil {
			t.Fatalf("service ticket for %s: %v", spn, err)
		}
		if err := tkt.DecryptEncPart(serviceKT, nil); err != nil {
			t.Errorf("decrypt %s ticket with service keytab: %v", spn, err)
		}
	}

	// Exporting a second time must not re-key: the first keytab stays valid.
	again := loadKeytab(t, kdc.ServiceKeytab(t, "wec.example.test"))
	tkt, _, err := cl.GetServiceTicket("HTTP/wec.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := tkt.DecryptEncPart(again, nil); err != nil {
		t.Errorf("second export: %v", err)
	}
	if err := tkt.DecryptEncPart(serviceKT, nil); err != nil {
		t.Errorf("first export went stale: %v", err)
	}
}

func TestStaleServiceKeytab(t *testing.T) {
	kdc := Start(t, "STALE.TEST")
	stale := loadKeytab(t, kdc.StaleServiceKeytab(t, "old.example.test"))
	cfg, err := config.Load(kdc.Krb5Conf())
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithKeytab("WIN10$", kdc.Realm(), loadKeytab(t, kdc.ClientKeytab(t, "WIN10$")), cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("login: %v", err)
	}
	defer cl.Destroy()
	tkt, _, err := cl.GetServiceTicket("HTTP/old.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range stale.Entries {
		if e.KVNO == uint32(tkt.EncPart.KVNO) {
			t.Fatalf("stale keytab holds the current kvno %d", tkt.EncPart.KVNO)
		}
	}
	if err := tkt.DecryptEncPart(stale, nil); err == nil {
		t.Fatal("stale keytab decrypted a current ticket")
	}
}

func TestMITToolsUseTheRealm(t *testing.T) {
	kinit, err := exec.LookPath("kinit")
	if err != nil {
		t.Skip("kinit not installed")
	}
	kdc := Start(t, "")
	kt := kdc.ClientKeytab(t, "WIN10$")
	cmd := exec.Command(kinit, "-k", "-t", kt, kdc.Principal("WIN10$"))
	cmd.Env = append(os.Environ(), kdc.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s\n%s", err, out, kdc.Log())
	}
	if !strings.Contains(kdc.Log(), "WIN10$@"+kdc.Realm()) {
		t.Errorf("KDC log does not mention the client")
	}
}

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"WIN10$":        "WIN10$",
		"a b":           `"a b"`,
		`x"y`:           `"x\"y"`,
		"":              `""`,
		"HTTP/h.test@R": "HTTP/h.test@R",
	}
	for in, want := range tests {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %q, want %q", in, got, want)
		}
	}
}
