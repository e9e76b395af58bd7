package kerberos

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// sharedSample locates a file of the shared WEF samples next to the
// repository, skipping when they are not there.
func sharedSample(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "samples", "wef", name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("sample %s not available", name)
	}
	return path
}

func TestWindowsAPRepTokens(t *testing.T) {
	f, err := os.Open(sharedSample(t, "kerberos-ap-rep-tokens.b64.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil {
			t.Fatalf("token %d: %v", n, err)
		}
		tok, err := parseKRB5Token(raw)
		if err != nil {
			t.Fatalf("token %d: %v", n, err)
		}
		if !bytes.Equal(tok.oid, oidKRB5) || tok.tokID != tokIDAPRep {
			t.Errorf("token %d: OID %x tok_id %x", n, tok.oid, tok.tokID)
		}
		var rep messages.APRep
		if err := rep.Unmarshal(tok.message); err != nil {
			t.Fatalf("token %d: AP-REP: %v", n, err)
		}
		if rep.EncPart.EType != etypeID.AES256_CTS_HMAC_SHA1_96 {
			t.Errorf("token %d: enc-part etype %d", n, rep.EncPart.EType)
		}
		// Our framing of the same AP-REP must give Windows' bytes.
		if again := (krb5Token{oid: oidKRB5, tokID: tokIDAPRep, message: tok.message}).marshal(); !bytes.Equal(again, raw) {
			t.Errorf("token %d: re-framed token differs", n)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no tokens in sample")
	}
}

func TestDERLength(t *testing.T) {
	for _, l := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24} {
		enc := appendDERLength(nil, l)
		got, n, err := parseDERLength(append(enc, 0xAA))
		if err != nil || got != l || n != len(enc) {
			t.Errorf("length %d: encoded %x, parsed %d/%d %v", l, enc, got, n, err)
		}
	}
	for _, bad := range [][]byte{nil, {0x80}, {0x85, 1, 2, 3, 4, 5}, {0x82, 1}, {0x84, 0x7f, 0xff, 0xff, 0xff}} {
		if _, _, err := parseDERLength(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

func TestParseKRB5TokenRejects(t *testing.T) {
	tests := []struct {
		name  string
		token []byte
		want  error
	}{
		{"empty", nil, ErrMalformed},
		{"not 0x60", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, ErrMalformed},
		{"length past end", []byte{0x60, 0x20, 0x06, 0x09}, ErrMalformed},
		{"no OID", []byte{0x60, 0x02, 0x04, 0x00}, ErrMalformed},
		{"OID past end", []byte{0x60, 0x03, 0x06, 0x09, 0x2a}, ErrMalformed},
		{"SPNEGO OID", frameInitialContextToken(oidSPNEGO, []byte{1, 0}), ErrUnsupportedMech},
		{"no tok_id", frameInitialContextToken(oidKRB5, []byte{1}), ErrMalformed},
		{"NTLM", []byte("NTLMSSP\x00\x01\x00\x00\x00"), ErrNTLM},
	}
	for _, tt := range tests {
		if _, err := parseKRB5Token(tt.token); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	tok, err := parseKRB5Token(frameInitialContextToken(oidMSKRB5, []byte{1, 0, 0xAA}))
	if err != nil || tok.tokID != tokIDAPReq || !bytes.Equal(tok.message, []byte{0xAA}) {
		t.Errorf("MS OID token: %+v %v", tok, err)
	}
}

func TestGSSChecksum(t *testing.T) {
	c := gssChecksum{flags: FlagsWindows}
	copy(c.binding[:], bytes.Repeat([]byte{7}, 16))
	b := c.marshal()
	if len(b) != 24 || b[20] != 0x3e {
		t.Fatalf("checksum bytes %x", b)
	}
	got, err := parseGSSChecksum(append(b, 1, 0, 0, 0)) // delegation fields may follow
	if err != nil || got != c {
		t.Fatalf("parsed %+v %v", got, err)
	}
	if _, err := parseGSSChecksum(b[:23]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short checksum: %v", err)
	}
	b[0] = 17
	if _, err := parseGSSChecksum(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad binding length: %v", err)
	}
}
