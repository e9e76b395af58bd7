package kerberos

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// syntheticRealm mints tickets locally from a keytab, without a KDC, for
// cases a real KDC will not produce and for fuzzing.
type syntheticRealm struct {
	kt     *keytab.Keytab
	path   string
	client types.PrincipalName
	realm  string
}

func newSyntheticRealm(t testing.TB) *syntheticRealm {
	t.Helper()
	kt := keytab.New()
	now := time.Now()
	for _, e := range []struct {
		spn    string
		kvno   uint8
		etype  int32
		secret string
	}{
		{"HTTP/" + serviceHost, 3, etypeID.AES256_CTS_HMAC_SHA1_96, "service-secret"},
		{"HOST/" + serviceHost, 3, etypeID.AES256_CTS_HMAC_SHA1_96, "service-secret"},
		{"HTTP/rc4.example.test", 1, etypeID.RC4_HMAC, "rc4-secret"},
	} {
		if err := kt.AddEntry(e.spn, "EXAMPLE.TEST", e.secret, now, e.kvno, e.etype); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "synthetic.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &syntheticRealm{kt: kt, path: path, client: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "WIN10$"), realm: "EXAMPLE.TEST"}
}

type ticketSpec struct {
	spn        string
	etype      int32
	kvno       int
	kvnoLabel  int // if set, replaces the kvno written in the ticket
	start, end time.Time
}

func (r *syntheticRealm) ticket(t testing.TB, s ticketSpec) (messages.Ticket, types.EncryptionKey) {
	t.Helper()
	if s.etype == 0 {
		s.etype = etypeID.AES256_CTS_HMAC_SHA1_96
	}
	if s.kvno == 0 {
		s.kvno = 3
	}
	now := time.Now().UTC()
	if s.start.IsZero() {
		s.start = now
	}
	if s.end.IsZero() {
		s.end = now.Add(10 * time.Hour)
	}
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, s.spn)
	tkt, key, err := messages.NewTicket(r.client, r.realm, sname, r.realm, types.NewKrbFlags(), r.kt, s.etype, s.kvno, s.start, s.start, s.end, s.end)
	if err != nil {
		t.Fatalf("mint ticket: %v", err)
	}
	if s.kvnoLabel != 0 {
		tkt.EncPart.KVNO = s.kvnoLabel
	}
	return tkt, key
}

func (r *syntheticRealm) token(t testing.TB, s ticketSpec, scheme string, o apReqOptions) []byte {
	t.Helper()
	tkt, key := r.ticket(t, s)
	if o.flags == 0 {
		o.flags = FlagsWindows
	}
	req, err := buildAPReq(tkt, key, r.client, r.realm, scheme, o)
	if err != nil {
		t.Fatal(err)
	}
	return req.token
}

func TestAcceptSynthetic(t *testing.T) {
	r := newSyntheticRealm(t)
	acc, err := NewAcceptor(r.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		spec   ticketSpec
		scheme string
		o      apReqOptions
		want   error
	}{
		{name: "Kerberos", spec: ticketSpec{spn: "HTTP/" + serviceHost}, scheme: SchemeKerberos},
		{name: "Negotiate HOST", spec: ticketSpec{spn: "HOST/" + serviceHost}, scheme: SchemeNegotiate},
		{name: "ticket kvno label differs, key right", spec: ticketSpec{spn: "HTTP/" + serviceHost, kvnoLabel: 7}, scheme: SchemeKerberos},
		{name: "RC4 ticket", spec: ticketSpec{spn: "HTTP/rc4.example.test", etype: etypeID.RC4_HMAC, kvno: 1}, scheme: SchemeKerberos, want: ErrRC4},
		{name: "expired", spec: ticketSpec{spn: "HTTP/" + serviceHost, start: time.Now().Add(-20 * time.Hour), end: time.Now().Add(-10 * time.Hour)}, scheme: SchemeKerberos, want: ErrTicketTime},
		{name: "not yet valid", spec: ticketSpec{spn: "HTTP/" + serviceHost, start: time.Now().Add(time.Hour)}, scheme: SchemeKerberos, want: ErrTicketTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := acc.Accept(tt.scheme, r.token(t, tt.spec, tt.scheme, tt.o), "synthetic")
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if err == nil && len(resp) == 0 {
				t.Fatal("no response token")
			}
		})
	}
}

func TestAcceptNoKeyForEnctype(t *testing.T) {
	r := newSyntheticRealm(t)
	// A keytab with only AES128 keys cannot decrypt an AES256 ticket.
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/"+serviceHost, "EXAMPLE.TEST", "service-secret", time.Now(), 3, etypeID.AES128_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, _ := kt.Marshal()
	path := filepath.Join(t.TempDir(), "aes128.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	acc, err := NewAcceptor(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Accept(SchemeKerberos, r.token(t, ticketSpec{spn: "HTTP/" + serviceHost}, SchemeKerberos, apReqOptions{}), "x"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("error %v, want ErrNoKey", err)
	}
}

func TestAcceptEchoesMechOID(t *testing.T) {
	r := newSyntheticRealm(t)
	acc, err := NewAcceptor(r.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := r.token(t, ticketSpec{spn: "HTTP/" + serviceHost}, SchemeKerberos, apReqOptions{})
	ms := bytes.Replace(tok, oidKRB5, oidMSKRB5, 1)
	_, resp, err := acc.Accept(SchemeKerberos, ms, "ms-oid")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := parseKRB5Token(resp)
	if err != nil || !bytes.Equal(rt.oid, oidMSKRB5) || rt.tokID != tokIDAPRep {
		t.Fatalf("response %+v %v", rt, err)
	}
}

func TestNewAcceptorErrors(t *testing.T) {
	if _, err := NewAcceptor(filepath.Join(t.TempDir(), "missing.keytab"), nil); err == nil {
		t.Error("missing keytab accepted")
	}
	path := filepath.Join(t.TempDir(), "garbage.keytab")
	if err := os.WriteFile(path, []byte("not a keytab"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAcceptor(path, nil); err == nil {
		t.Error("garbage keytab accepted")
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(time.Minute, 3)
	now := time.Now()
	key := func(i byte) [32]byte { return [32]byte{i} }
	for i := range byte(5) {
		if c.check(key(i), now) {
			t.Fatalf("key %d reported as replay", i)
		}
	}
	if c.len() != 3 {
		t.Fatalf("cache holds %d entries, want 3", c.len())
	}
	if !c.check(key(4), now) {
		t.Fatal("recent key not detected")
	}
	if c.check(key(0), now) {
		t.Fatal("evicted key still present")
	}
	// Entries expire after the TTL.
	if c.check(key(4), now.Add(2*time.Minute)) {
		t.Fatal("expired key reported as replay")
	}
	if c.len() != 1 {
		t.Fatalf("after expiry %d entries", c.len())
	}
}

func FuzzAccept(f *testing.F) {
	r := newSyntheticRealm(f)
	acc, err := NewAcceptor(r.path, nil, WithReplayCacheSize(64))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(true, r.token(f, ticketSpec{spn: "HTTP/" + serviceHost}, SchemeKerberos, apReqOptions{}))
	f.Add(false, r.token(f, ticketSpec{spn: "HOST/" + serviceHost}, SchemeNegotiate, apReqOptions{}))
	f.Add(true, r.token(f, ticketSpec{spn: "HTTP/rc4.example.test", etype: etypeID.RC4_HMAC, kvno: 1}, SchemeKerberos, apReqOptions{}))
	f.Add(false, spnegoNTLMInit(f, []byte("NTLMSSP\x00\x01\x00\x00\x00")))
	f.Add(true, []byte{0x60, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, kerberos bool, token []byte) {
		scheme := SchemeNegotiate
		if kerberos {
			scheme = SchemeKerberos
		}
		ctx, resp, err := acc.Accept(scheme, token, "fuzz")
		if err == nil && (ctx == nil || len(resp) == 0) {
			t.Fatal("success without context or response")
		}
	})
}

func TestAcceptConcurrently(t *testing.T) {
	r := newSyntheticRealm(t)
	acc, err := NewAcceptor(r.path, nil, WithKeytabCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 4, 10
	tokens := make([][]byte, workers*perWorker)
	for i := range tokens {
		tokens[i] = r.token(t, ticketSpec{spn: "HTTP/" + serviceHost}, SchemeKerberos, apReqOptions{})
	}
	errs := make(chan error, len(tokens))
	for w := range workers {
		go func() {
			for _, tok := range tokens[w*perWorker : (w+1)*perWorker] {
				ctx, _, err := acc.Accept(SchemeKerberos, tok, "concurrent")
				if err == nil {
					_, _, err = ctx.Wrap([]byte("x"))
				}
				errs <- err
			}
		}()
	}
	for range tokens {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := acc.replay.len(); n != len(tokens) {
		t.Errorf("replay cache holds %d authenticators, want %d", n, len(tokens))
	}
}

// In AD every SPN of an account shares its keys, so a ticket for any alias
// (here lower-case host/) must open with the key filed under another name.
func TestAcceptKeyUnderAnotherName(t *testing.T) {
	r := newSyntheticRealm(t)
	minting := keytab.New()
	if err := minting.AddEntry("host/"+serviceHost, "EXAMPLE.TEST", "account-secret", time.Now(), 3, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	r.kt = minting
	tok := r.token(t, ticketSpec{spn: "host/" + serviceHost}, SchemeKerberos, apReqOptions{})

	accepting := keytab.New()
	accepting.Entries = append(accepting.Entries, minting.Entries[0])
	accepting.Entries[0].Principal.Components = []string{"HTTP", "WEC.EXAMPLE.TEST"}
	b, err := accepting.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "renamed.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	acc, err := NewAcceptor(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _, err := acc.Accept(SchemeKerberos, tok, "alias")
	if err != nil {
		t.Fatal(err)
	}
	// The service reported is the keytab entry whose key accepted the
	// ticket, not the ticket's unauthenticated clear-text name.
	if ctx.Service != "HTTP/WEC.EXAMPLE.TEST@EXAMPLE.TEST" {
		t.Errorf("service %q", ctx.Service)
	}
}

func TestAcceptRefusesForeignAuthenticator(t *testing.T) {
	r := newSyntheticRealm(t)
	acc, err := NewAcceptor(r.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tkt, key := r.ticket(t, ticketSpec{spn: "HTTP/" + serviceHost})
	other := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "OTHER$")
	req, err := buildAPReq(tkt, key, other, r.realm, SchemeKerberos, apReqOptions{flags: FlagsWindows})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Accept(SchemeKerberos, req.token, "foreign"); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("authenticator for another client: %v", err)
	}
}
