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
