package kerberos

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wefgate/internal/ratelog"
)

// TestRefusalLinesRateLimited: a client sending 2,500 bad tokens gets one
// line per reason and address per interval (issue 10 part 6), and another
// address or another reason still gets its own.
func TestRefusalLinesRateLimited(t *testing.T) {
	r := newSyntheticRealm(t)
	var logs bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	acc, err := NewAcceptor(r.path, slog.New(slog.NewTextHandler(&logs, nil)),
		WithRefusalLog(ratelog.New(10*time.Second, 0, func() time.Time { return now })))
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0x60, 0x82}, 64)
	for range 2500 {
		if _, _, err := acc.Accept(SchemeKerberos, garbage, "192.0.2.7:50123"); err == nil {
			t.Fatal("garbage accepted")
		}
	}
	acc.Accept(SchemeKerberos, garbage, "192.0.2.8:50123")
	acc.Accept(SchemeNegotiate, []byte("NTLMSSP\x00\x01\x00\x00\x00"), "192.0.2.7:50124")
	lines := strings.Count(logs.String(), "kerberos authentication refused")
	if lines != 3 {
		t.Fatalf("%d lines, want 3 (one per reason and address):\n%s", lines, logs.String())
	}
	now = now.Add(10 * time.Second)
	acc.Accept(SchemeKerberos, garbage, "192.0.2.7:50125")
	if !strings.Contains(logs.String(), "suppressed=2499") {
		t.Fatalf("the next line does not report the held-back count:\n%s", logs.String())
	}
}
