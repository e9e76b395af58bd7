package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A forwarder whose set-up fails must say why, not panic (the named
// release result used to be nil on every error return).
func TestForwarderSetupErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"url without host", []string{"-url", "localhost:5986", "-generate", "1"}, "bad subscription manager URL"},
		{"ellipsis url", []string{"-url", "…", "-generate", "1"}, "bad subscription manager URL"},
		{"missing pki", []string{"-url", "https://localhost:5986/wsman/SubscriptionManager/WEC", "-pki", filepath.Join(dir, "none"), "-generate", "1"}, "forwarder:"},
		{"http without keytab", []string{"-url", "http://localhost:5985/wsman/SubscriptionManager/WEC", "-generate", "1"}, "-keytab and -krb5conf"},
		{"https without credentials", []string{"-url", "https://localhost:5986/wsman/SubscriptionManager/WEC", "-generate", "1"}, "give -pki"},
		{"missing events file", []string{"-url", "https://localhost:5986/wsman/SubscriptionManager/WEC", "-events", filepath.Join(dir, "none.xml")}, "forwarder:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"forwarder"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q; output:\n%s", err, c.want, out)
			}
			if strings.Contains(out, "hosts=0") {
				t.Errorf("a result line for hosts that never ran:\n%s", out)
			}
		})
	}
}

// The load driver's hosts cycle through a small pool of events: it must
// hold events the gateway keeps, or a load run never reaches the spool and
// the exporters (a pool of the generator's first 8 events held none).
func TestPoolEventsHoldKeptEvents(t *testing.T) {
	for _, n := range []int{1, 2, 8, 200} {
		pool := poolEvents("load00001.example.test", 1, n)
		kept := 0
		for _, e := range pool {
			if reHandleEventID.MatchString(e) {
				kept++
			}
		}
		if len(pool) != n || kept == 0 || n >= 8 && (kept*5 < n || kept*2 > n) {
			t.Errorf("pool of %d: %d events, %d of them 4658/4690; want about a third", n, len(pool), kept)
		}
	}
}
