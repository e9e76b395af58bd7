package kerberos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"wefgate/internal/testkdc"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/mit_wrap_tokens.json from the MIT interop run")

// goldenToken is an MIT-made wrap token with the key that opens it, kept in
// testdata so that unwrapping MIT output is tested without a KDC.
type goldenToken struct {
	Direction string `json:"direction"` // "to-acceptor" or "to-initiator"
	Enctype   int32  `json:"enctype"`
	Key       string `json:"key_hex"`
	Seq       uint64 `json:"seq"`
	Sig       string `json:"sig"`
	Data      string `json:"data"`
	Plain     string `json:"plain"`
}

func writeGolden(t *testing.T, name string, tokens []goldenToken) {
	t.Helper()
	if !*updateGolden {
		return
	}
	b, err := json.MarshalIndent(tokens, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/"+name, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func golden(direction string, s *sealer, sig, data, plain []byte) goldenToken {
	return goldenToken{Direction: direction, Enctype: s.key.KeyType, Key: hex.EncodeToString(s.key.KeyValue),
		Seq: s.recvSeq, Sig: b64(sig), Data: b64(data), Plain: b64(plain)}
}

// mitPeer runs testdata/gssapi_interop.py, the MIT GSSAPI side of the
// interoperability tests, and exchanges JSON lines with it.
type mitPeer struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     *json.Encoder
	out    *bufio.Scanner
	stderr *bytes.Buffer
}

// mitMessage is one JSON line; byte fields travel as base64.
type mitMessage struct {
	Token     string `json:"token,omitempty"`
	Sig       string `json:"sig,omitempty"`
	Data      string `json:"data,omitempty"`
	Plain     string `json:"plain,omitempty"`
	Initiator string `json:"initiator,omitempty"`
	Flags     int    `json:"flags,omitempty"`
	HeaderLen int    `json:"header_len,omitempty"`
	EC        int    `json:"ec"`
	RRC       int    `json:"rrc,omitempty"`
	Padding   int    `json:"padding"`
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func systemPython(t *testing.T) string {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			skipOrFail(t, "python3 not installed")
		}
	}
	if out, err := exec.Command(python, "-c", "import gssapi").CombinedOutput(); err != nil {
		skipOrFail(t, "python3-gssapi not installed: "+strings.TrimSpace(string(out)))
	}
	return python
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv(testkdc.RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func startMIT(t *testing.T, kdc *testkdc.KDC, args ...string) *mitPeer {
	t.Helper()
	python := systemPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, python, append([]string{"testdata/gssapi_interop.py"}, args...)...)
	cmd.Env = append(os.Environ(), kdc.Env()...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &mitPeer{t: t, cmd: cmd, in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout), stderr: &bytes.Buffer{}}
	p.out.Buffer(nil, 1<<20)
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("MIT peer: %v\n%s", err, p.stderr)
		}
	})
	return p
}

func (p *mitPeer) send(m mitMessage) {
	p.t.Helper()
	if err := p.in.Encode(m); err != nil {
		p.t.Fatalf("send to MIT peer: %v\n%s", err, p.stderr)
	}
}

func (p *mitPeer) receive() mitMessage {
	p.t.Helper()
	if !p.out.Scan() {
		p.t.Fatalf("MIT peer ended: %v\n%s", p.out.Err(), p.stderr)
	}
	var m mitMessage
	if err := json.Unmarshal(p.out.Bytes(), &m); err != nil {
		p.t.Fatalf("MIT peer said %q: %v", p.out.Text(), err)
	}
	return m
}

func TestInteropMITInitiator(t *testing.T) {
	systemPython(t)
	r := startRealm(t)
	acc := r.acceptor(t, "")
	const messages = 3
	var captured []goldenToken
	defer func() { writeGolden(t, "mit_wrap_to_acceptor.json", captured) }()
	for _, tc := range []struct{ mech, scheme, spn string }{
		{"krb5", SchemeKerberos, "HTTP/" + serviceHost},
		{"spnego", SchemeNegotiate, "HTTP/" + serviceHost},
		{"krb5", SchemeKerberos, "HOST/" + serviceHost},
	} {
		t.Run(tc.mech+"/"+tc.spn, func(t *testing.T) {
			mit := startMIT(t, r.kdc, "initiator", r.kdc.Principal(tc.spn), r.kdc.Principal("WIN10$"), r.clientKeytab, tc.mech, strconv.Itoa(messages))
			token := unb64(t, mit.receive().Token)
			sc, resp, err := acc.Accept(tc.scheme, token, "mit")
			if err != nil {
				t.Fatalf("accept MIT token: %v", err)
			}
			if sc.Principal != r.kdc.Principal("WIN10$") {
				t.Errorf("principal %q", sc.Principal)
			}
			mit.send(mitMessage{Token: b64(resp)})
			for i := range messages {
				m := mit.receive()
				// MIT's wrap_iov must produce what Windows sends.
				if m.HeaderLen != 60 || m.EC != 0 || m.RRC != 28 || m.Flags != 0x06 || m.Padding != 0 {
					t.Errorf("MIT token %d: header %d EC %d RRC %d flags %#x padding %d", i, m.HeaderLen, m.EC, m.RRC, m.Flags, m.Padding)
				}
				if i == 0 {
					captured = append(captured, golden("to-acceptor", sc.sealer, unb64(t, m.Sig), unb64(t, m.Data), unb64(t, m.Plain)))
				}
				plain, err := sc.Unwrap(unb64(t, m.Sig), unb64(t, m.Data))
				if err != nil {
					t.Fatalf("unwrap MIT message %d: %v", i, err)
				}
				if !bytes.Equal(plain, unb64(t, m.Plain)) {
					t.Fatalf("MIT message %d: got %q", i, plain)
				}
				reply := append([]byte("reply: "), plain...)
				sig, data, err := sc.Wrap(reply)
				if err != nil {
					t.Fatal(err)
				}
				mit.send(mitMessage{Sig: b64(sig), Data: b64(data)})
				if got := unb64(t, mit.receive().Data); !bytes.Equal(got, reply) {
					t.Fatalf("MIT decrypted our reply %d as %q", i, got)
				}
			}
		})
	}
}

func TestInteropMITAcceptor(t *testing.T) {
	systemPython(t)
	r := startRealm(t)
	ini := r.initiator(t)
	const messages = 3
	var captured []goldenToken
	defer func() { writeGolden(t, "mit_wrap_to_initiator.json", captured) }()
	for _, scheme := range []string{SchemeKerberos, SchemeNegotiate} {
		t.Run(scheme, func(t *testing.T) {
			mit := startMIT(t, r.kdc, "acceptor", r.serviceKeytab, strconv.Itoa(messages))
			token, cc, err := ini.Start(context.Background(), "HTTP/"+serviceHost, scheme)
			if err != nil {
				t.Fatal(err)
			}
			mit.send(mitMessage{Token: b64(token)})
			m := mit.receive()
			if m.Initiator != r.kdc.Principal("WIN10$") {
				t.Errorf("MIT saw initiator %q", m.Initiator)
			}
			if err := cc.Complete(unb64(t, m.Token)); err != nil {
				t.Fatalf("complete with MIT AP-REP: %v", err)
			}
			for i := range messages {
				msg := []byte("event batch " + strconv.Itoa(i))
				sig, data, err := cc.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				mit.send(mitMessage{Sig: b64(sig), Data: b64(data)})
				reply := mit.receive()
				if reply.HeaderLen != 60 || reply.Flags != 0x07 || reply.RRC != 28 {
					t.Errorf("MIT reply %d: header %d flags %#x RRC %d", i, reply.HeaderLen, reply.Flags, reply.RRC)
				}
				want := append([]byte("reply to "), msg...)
				if i == 0 {
					captured = append(captured, golden("to-initiator", cc.sealer, unb64(t, reply.Sig), unb64(t, reply.Data), want))
				}
				plain, err := cc.Unwrap(unb64(t, reply.Sig), unb64(t, reply.Data))
				if err != nil {
					t.Fatalf("unwrap MIT reply %d: %v", i, err)
				}
				if !bytes.Equal(plain, want) {
					t.Fatalf("MIT reply %d: %q", i, plain)
				}
			}
		})
	}
}
