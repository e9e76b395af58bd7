package kerberos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"wefgate/internal/testkdc"
	"wefgate/wef/multipart"
)

const serviceHost = "wec.example.test"

type testRealm struct {
	kdc           *testkdc.KDC
	serviceKeytab string
	clientKeytab  string
}

func startRealm(t *testing.T) *testRealm {
	t.Helper()
	kdc := testkdc.Start(t, "")
	return &testRealm{
		kdc:           kdc,
		serviceKeytab: kdc.ServiceKeytab(t, serviceHost),
		clientKeytab:  kdc.ClientKeytab(t, "WIN10$"),
	}
}

func (r *testRealm) initiator(t *testing.T) *Initiator {
	t.Helper()
	ini, err := NewInitiatorWithKeytab(r.kdc.Krb5Conf(), "WIN10$", r.clientKeytab, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ini.Close)
	return ini
}

func (r *testRealm) acceptor(t *testing.T, keytabPath string, opts ...AcceptorOption) *Acceptor {
	t.Helper()
	if keytabPath == "" {
		keytabPath = r.serviceKeytab
	}
	a, err := NewAcceptor(keytabPath, slog.New(slog.NewTextHandler(testWriter{t}, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// handshake runs Start, Accept and Complete.
func handshake(t *testing.T, ini *Initiator, acc *Acceptor, spn, scheme string) (*ClientContext, *Context) {
	t.Helper()
	token, cc, err := ini.Start(context.Background(), spn, scheme)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	sc, resp, err := acc.Accept(scheme, token, "192.0.2.10:50000")
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if err := cc.Complete(resp); err != nil {
		t.Fatalf("complete: %v", err)
	}
	return cc, sc
}

// exchange sends n messages each way through the multipart codec.
func exchange(t *testing.T, cc *ClientContext, sc *Context, n int) {
	t.Helper()
	for i := range n {
		request := []byte(fmt.Sprintf("\xff\xfe<request n=%d>äöü €</request>", i))
		sig, data, err := cc.Wrap(request)
		if err != nil {
			t.Fatal(err)
		}
		ct, body := multipart.Encode(&multipart.Message{Protocol: multipart.ProtocolKerberos, Header: sig, Payload: data})
		m, err := multipart.Decode(ct, body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sc.Unwrap(m.Header, m.Payload)
		if err != nil {
			t.Fatalf("server unwrap %d: %v", i, err)
		}
		if !bytes.Equal(got, request) {
			t.Fatalf("server got %q", got)
		}
		response := bytes.Repeat([]byte{byte(i)}, 1000+i)
		sig, data, err = sc.Wrap(response)
		if err != nil {
			t.Fatal(err)
		}
		if sig[2] != 0x07 || len(sig) != 60 || len(data) != len(response) {
			t.Fatalf("server token flags %#x, %d+%d bytes", sig[2], len(sig), len(data))
		}
		if got, err = cc.Unwrap(sig, data); err != nil || !bytes.Equal(got, response) {
			t.Fatalf("client unwrap %d: %v", i, err)
		}
	}
}

func TestHandshakeAndMessages(t *testing.T) {
	r := startRealm(t)
	ini := r.initiator(t)
	acc := r.acceptor(t, "")
	for _, scheme := range []string{SchemeKerberos, SchemeNegotiate} {
		for _, spn := range []string{"HTTP/" + serviceHost, "HOST/" + serviceHost} {
			t.Run(scheme+"/"+spn, func(t *testing.T) {
				cc, sc := handshake(t, ini, acc, spn, scheme)
				if want := r.kdc.Principal("WIN10$"); sc.Principal != want || cc.Principal != want {
					t.Errorf("principal %q / %q, want %q", sc.Principal, cc.Principal, want)
				}
				if sc.Scheme != scheme || sc.Service != r.kdc.Principal(spn) || sc.Flags != FlagsWindows {
					t.Errorf("context %+v", sc)
				}
				if sc.Expiry.Before(time.Now().Add(time.Hour)) {
					t.Errorf("expiry %s", sc.Expiry)
				}
				exchange(t, cc, sc, 3)
			})
		}
	}
}

func TestContextsAreIndependent(t *testing.T) {
	r := startRealm(t)
	ini := r.initiator(t)
	acc := r.acceptor(t, "")
	cc1, sc1 := handshake(t, ini, acc, "HTTP/"+serviceHost, SchemeKerberos)
	cc2, sc2 := handshake(t, ini, acc, "HTTP/"+serviceHost, SchemeKerberos)

	exchange(t, cc1, sc1, 2)
	sig, data, err := cc2.Wrap([]byte("for context 2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc1.Unwrap(sig, data); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("context 1 accepted context 2's message: %v", err)
	}
	if got, err := sc2.Unwrap(sig, data); err != nil || string(got) != "for context 2" {
		t.Fatalf("context 2: %q %v", got, err)
	}
	exchange(t, cc2, sc2, 1)
	exchange(t, cc1, sc1, 1)
}

func TestSequenceNumbers(t *testing.T) {
	r := startRealm(t)
	cc, sc := handshake(t, r.initiator(t), r.acceptor(t, ""), "HTTP/"+serviceHost, SchemeKerberos)
	sig1, data1, _ := cc.Wrap([]byte("one"))
	sig2, data2, _ := cc.Wrap([]byte("two"))
	if _, err := sc.Unwrap(sig2, data2); !errors.Is(err, ErrSequence) {
		t.Fatalf("out-of-order message: %v", err)
	}
	if _, err := sc.Unwrap(sig1, data1); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Unwrap(sig1, data1); !errors.Is(err, ErrSequence) {
		t.Fatalf("replayed message: %v", err)
	}
	if _, err := sc.Unwrap(sig2, data2); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptRefusals(t *testing.T) {
	r := startRealm(t)
	kdc := r.kdc
	ini := r.initiator(t)
	acc := r.acceptor(t, "")
	kdc.AddPrincipal(t, "HTTP/other.example.test")
	staleKeytab := kdc.StaleServiceKeytab(t, "stale.example.test")

	token := func(t *testing.T, spn, scheme string) []byte {
		t.Helper()
		tok, _, err := ini.Start(context.Background(), spn, scheme)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("replayed authenticator", func(t *testing.T) {
		tok := token(t, "HTTP/"+serviceHost, SchemeKerberos)
		if _, _, err := acc.Accept(SchemeKerberos, tok, "replay"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := acc.Accept(SchemeKerberos, tok, "replay"); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
		// A fresh acceptor has its own cache.
		if _, _, err := r.acceptor(t, "").Accept(SchemeKerberos, tok, "replay"); err != nil {
			t.Fatalf("other acceptor: %v", err)
		}
	})
	t.Run("tampered authenticator", func(t *testing.T) {
		tok := token(t, "HTTP/"+serviceHost, SchemeKerberos)
		tok[len(tok)-5] ^= 0x40 // inside the authenticator ciphertext
		if _, _, err := acc.Accept(SchemeKerberos, tok, "tamper"); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("tampered authenticator: %v", err)
		}
	})
	t.Run("tampered ticket", func(t *testing.T) {
		tok := token(t, "HTTP/"+serviceHost, SchemeKerberos)
		i := bytes.Index(tok, []byte(serviceHost))
		tok[i+len(serviceHost)+40] ^= 0x01 // inside the ticket's enc-part
		if _, _, err := acc.Accept(SchemeKerberos, tok, "tamper"); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("tampered ticket: %v", err)
		}
	})
	t.Run("wrong kvno", func(t *testing.T) {
		stale := r.acceptor(t, staleKeytab)
		if _, _, err := stale.Accept(SchemeKerberos, token(t, "HTTP/stale.example.test", SchemeKerberos), "kvno"); !errors.Is(err, ErrWrongKVNO) {
			t.Fatalf("stale keytab: %v", err)
		}
	})
	t.Run("ticket for another service", func(t *testing.T) {
		if _, _, err := acc.Accept(SchemeKerberos, token(t, "HTTP/other.example.test", SchemeKerberos), "other"); !errors.Is(err, ErrWrongService) {
			t.Fatalf("other service: %v", err)
		}
	})
	t.Run("NTLM", func(t *testing.T) {
		ntlm := append([]byte("NTLMSSP\x00"), 1, 0, 0, 0, 0x07, 0x82, 0x08, 0xa2)
		for _, scheme := range []string{SchemeKerberos, SchemeNegotiate} {
			if _, _, err := acc.Accept(scheme, ntlm, "ntlm"); !errors.Is(err, ErrNTLM) {
				t.Fatalf("%s NTLM: %v", scheme, err)
			}
		}
		if _, _, err := acc.Accept(SchemeNegotiate, spnegoNTLMInit(t, ntlm), "ntlm"); !errors.Is(err, ErrNTLM) {
			t.Fatalf("SPNEGO NTLM: %v", err)
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		late := r.acceptor(t, "", WithClock(func() time.Time { return time.Now().Add(10 * time.Minute) }))
		if _, _, err := late.Accept(SchemeKerberos, token(t, "HTTP/"+serviceHost, SchemeKerberos), "skew"); !errors.Is(err, ErrClockSkew) {
			t.Fatalf("skew: %v", err)
		}
	})
	t.Run("RC4 ticket", func(t *testing.T) {
		kdc.AddPrincipal(t, "HTTP/rc4.example.test", "-randkey", "-e", "arcfour-hmac:normal")
		_, _, err := ini.Start(context.Background(), "HTTP/rc4.example.test", SchemeKerberos)
		if err != nil {
			t.Skipf("KDC does not issue RC4 tickets here (%v); covered by TestAcceptSynthetic", err)
		}
		tok := token(t, "HTTP/rc4.example.test", SchemeKerberos)
		if _, _, err := acc.Accept(SchemeKerberos, tok, "rc4"); !errors.Is(err, ErrRC4) {
			t.Fatalf("RC4: %v", err)
		}
	})
	t.Run("bad flags and subkeys", func(t *testing.T) {
		tkt, key, cname, realm, err := ini.serviceTicket(context.Background(), "HTTP/"+serviceHost)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			o    apReqOptions
			want error
		}{
			{"no conf flag", apReqOptions{flags: FlagsWindows &^ FlagConf}, ErrFlags},
			{"no mutual flag", apReqOptions{flags: FlagsWindows &^ FlagMutual}, ErrFlags},
			{"not a GSS checksum", apReqOptions{flags: FlagsWindows, checksumType: 16}, ErrFlags},
			{"RC4 subkey", apReqOptions{flags: FlagsWindows, subkeyType: etypeID.RC4_HMAC}, ErrRC4},
			{"future authenticator", apReqOptions{flags: FlagsWindows, timeOffset: 20 * time.Minute}, ErrClockSkew},
		}
		for _, tt := range tests {
			req, err := buildAPReq(tkt, key, cname, realm, SchemeKerberos, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := acc.Accept(SchemeKerberos, req.token, tt.name); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		// Without an authenticator subkey the session key's type is used.
		req, err := buildAPReq(tkt, key, cname, realm, SchemeKerberos, apReqOptions{flags: FlagsWindows, noSubkey: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := acc.Accept(SchemeKerberos, req.token, "no subkey"); err != nil {
			t.Errorf("no subkey: %v", err)
		}
	})
	t.Run("scheme", func(t *testing.T) {
		if _, _, err := acc.Accept("Basic", token(t, "HTTP/"+serviceHost, SchemeKerberos), "basic"); !errors.Is(err, ErrUnsupportedScheme) {
			t.Fatalf("Basic: %v", err)
		}
	})
}

func TestKeytabReload(t *testing.T) {
	r := startRealm(t)
	ini := r.initiator(t)
	path := filepath.Join(t.TempDir(), "collector.keytab")
	other := r.kdc.ServiceKeytab(t, "old-name.example.test")
	copyFile(t, other, path)
	acc := r.acceptor(t, path, WithKeytabCheckInterval(0))

	tok, _, err := ini.Start(context.Background(), "HTTP/"+serviceHost, SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Accept(SchemeKerberos, tok, "reload"); !errors.Is(err, ErrWrongService) {
		t.Fatalf("before reload: %v", err)
	}
	copyFile(t, r.serviceKeytab, path)
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	tok, _, err = ini.Start(context.Background(), "HTTP/"+serviceHost, SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Accept(SchemeKerberos, tok, "reload"); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	// A broken rewrite keeps the loaded keys.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, _, err = ini.Start(context.Background(), "HOST/"+serviceHost, SchemeKerberos)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Accept(SchemeKerberos, tok, "reload"); err != nil {
		t.Fatalf("after broken rewrite: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordInitiator(t *testing.T) {
	r := startRealm(t)
	r.kdc.AddPrincipal(t, "WIN11$", "-pw", "Client-Pw-1", "+requires_preauth")
	ini, err := NewInitiatorWithPassword(r.kdc.Krb5Conf(), r.kdc.Principal("WIN11$"), "Client-Pw-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ini.Close()
	cc, sc := handshake(t, ini, r.acceptor(t, ""), "HTTP/"+serviceHost, SchemeNegotiate)
	if sc.Principal != r.kdc.Principal("WIN11$") {
		t.Fatalf("principal %q", sc.Principal)
	}
	exchange(t, cc, sc, 1)

	ini.Close()
	if _, _, err := ini.Start(context.Background(), "HTTP/"+serviceHost, SchemeKerberos); err == nil {
		t.Fatal("closed initiator started a context")
	}
	exchange(t, cc, sc, 1)
}
