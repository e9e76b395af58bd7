package multipart

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

const kerberosContentType = `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="Encrypted Boundary"`

func sig60() []byte {
	s := make([]byte, 60)
	copy(s, []byte{0x05, 0x04, 0x06, 0xff, 0, 0, 0, 0x1c, 0, 0, 0, 0, 0x0f, 0xec, 0xe2, 0xa8})
	for i := 16; i < len(s); i++ {
		s[i] = byte(i * 7)
	}
	return s
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		// Include CR, LF and '-' so the parser cannot rely on the payload
		// being free of delimiter-like bytes.
		p[i] = "\r\n--Encrypted Boundary\x00\xff"[i%24]
	}
	return p
}

func TestEncodeMatchesWindowsSizes(t *testing.T) {
	// Lengths and body sizes of frames captured between Windows hosts.
	tests := []struct {
		name   string
		length int
		body   int
	}{
		{"Enumerate", 3240, 3542},
		{"EnumerateResponse", 8672, 8974},
		{"End", 1434, 1736},
		{"Heartbeat", 1006, 1308},
		{"Events", 19555, 19858},
		{"Ack", 1430, 1732},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := Encode(&Message{Protocol: ProtocolKerberos, Header: sig60(), Payload: payload(tt.length)})
			if len(body) != tt.body {
				t.Fatalf("body length %d, want %d", len(body), tt.body)
			}
			digits := len(strconv.Itoa(tt.length))
			if want := 210 + digits + 4 + 60 + tt.length + 24; len(body) != want {
				t.Fatalf("body length %d, formula gives %d", len(body), want)
			}
		})
	}
}

func TestEncodeExactBytes(t *testing.T) {
	ct, body := Encode(&Message{Header: []byte("SIG"), Payload: []byte("DATA")})
	if ct != kerberosContentType {
		t.Errorf("content type %q, want %q", ct, kerberosContentType)
	}
	want := "--Encrypted Boundary\r\n" +
		"Content-Type: application/HTTP-Kerberos-session-encrypted\r\n" +
		"OriginalContent: type=application/soap+xml;charset=UTF-16;Length=4\r\n" +
		"--Encrypted Boundary\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"\x03\x00\x00\x00SIGDATA--Encrypted Boundary--\r\n"
	if string(body) != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}

	ct, _ = Encode(&Message{Protocol: ProtocolSPNEGO})
	if want := `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`; ct != want {
		t.Errorf("SPNEGO content type %q, want %q", ct, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, proto := range []string{ProtocolKerberos, ProtocolSPNEGO} {
		for _, n := range []int{0, 1, 60, 3240, 70000} {
			in := &Message{Protocol: proto, OriginalContentType: "application/soap+xml;charset=UTF-8", Header: sig60(), Payload: payload(n)}
			ct, body := Encode(in)
			out, err := Decode(ct, body)
			if err != nil {
				t.Fatalf("%s/%d: %v", proto, n, err)
			}
			if out.Protocol != proto || out.OriginalContentType != in.OriginalContentType || out.OriginalLength != n ||
				!bytes.Equal(out.Header, in.Header) || !bytes.Equal(out.Payload, in.Payload) {
				t.Fatalf("%s/%d: round trip mismatch: %+v", proto, n, out)
			}
		}
	}
}

// frame builds a body by hand so tests can vary one detail at a time.
type frame struct {
	indent       string // before part headers
	eol          string
	protocol     string
	original     string // OriginalContent value; "" = standard with Length
	octetHeaders string // second part header lines, already terminated
	headerLen    []byte // nil = LE length of sig
	sig, data    []byte
	beforeClose  string
	closing      string
}

func (f frame) bytes() []byte {
	if f.eol == "" {
		f.eol = "\r\n"
	}
	if f.protocol == "" {
		f.protocol = ProtocolKerberos
	}
	if f.original == "" {
		f.original = "type=application/soap+xml;charset=UTF-16;Length=" + strconv.Itoa(len(f.data))
	}
	if f.octetHeaders == "" {
		f.octetHeaders = f.indent + "Content-Type: application/octet-stream" + f.eol
	}
	if f.headerLen == nil {
		f.headerLen = []byte{byte(len(f.sig)), byte(len(f.sig) >> 8), 0, 0}
	}
	if f.closing == "" {
		f.closing = "--Encrypted Boundary--\r\n"
	}
	var b bytes.Buffer
	b.WriteString("--Encrypted Boundary" + f.eol)
	b.WriteString(f.indent + "Content-Type: " + f.protocol + f.eol)
	b.WriteString(f.indent + "OriginalContent: " + f.original + f.eol)
	b.WriteString("--Encrypted Boundary" + f.eol)
	b.WriteString(f.octetHeaders)
	b.Write(f.headerLen)
	b.Write(f.sig)
	b.Write(f.data)
	b.WriteString(f.beforeClose)
	b.WriteString(f.closing)
	return b.Bytes()
}

func TestDecodeVariants(t *testing.T) {
	sig, data := sig60(), payload(3240)
	tests := []struct {
		name        string
		contentType string
		f           frame
		wantProto   string
		wantType    string
		wantLen     int
	}{
		{name: "Windows", contentType: kerberosContentType, f: frame{}},
		{name: "leading tabs (pywinrm)", contentType: kerberosContentType, f: frame{indent: "\t"}},
		{name: "leading spaces", contentType: kerberosContentType, f: frame{indent: "  "}},
		{name: "CRLF before closing boundary", contentType: kerberosContentType, f: frame{beforeClose: "\r\n"}},
		{name: "LF line ends", contentType: kerberosContentType, f: frame{eol: "\n"}},
		{name: "no trailing CRLF", contentType: kerberosContentType, f: frame{closing: "--Encrypted Boundary--"}},
		{name: "blank line after octet-stream header", contentType: kerberosContentType,
			f: frame{octetHeaders: "Content-Type: application/octet-stream\r\n\r\n"}},
		{name: "lower-case header names", contentType: kerberosContentType,
			f: frame{octetHeaders: "content-type: application/octet-stream\r\n", original: "type=application/soap+xml;charset=UTF-16;length=3240"}},
		{name: "SPNEGO", contentType: `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`,
			f: frame{protocol: ProtocolSPNEGO}, wantProto: ProtocolSPNEGO},
		{name: "protocol only in part", contentType: `multipart/encrypted;boundary="Encrypted Boundary"`, f: frame{}},
		{name: "unquoted params, spaces", contentType: `Multipart/Encrypted; protocol="application/HTTP-Kerberos-session-encrypted"; boundary="Encrypted Boundary"`, f: frame{}},
		{name: "unquoted boundary with a space", contentType: `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary=Encrypted Boundary`, f: frame{}},
		{name: "UTF-8 charset", contentType: kerberosContentType,
			f: frame{original: "type=application/soap+xml;charset=UTF-8;Length=3240"}, wantType: "application/soap+xml;charset=UTF-8"},
		{name: "no Length", contentType: kerberosContentType,
			f: frame{original: "type=application/soap+xml;charset=UTF-16"}, wantLen: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.sig, tt.f.data = sig, data
			m, err := Decode(tt.contentType, tt.f.bytes())
			if err != nil {
				t.Fatal(err)
			}
			wantProto, wantType, wantLen := ProtocolKerberos, DefaultOriginalContentType, len(data)
			if tt.wantProto != "" {
				wantProto = tt.wantProto
			}
			if tt.wantType != "" {
				wantType = tt.wantType
			}
			if tt.wantLen != 0 {
				wantLen = tt.wantLen
			}
			if m.Protocol != wantProto || m.OriginalContentType != wantType || m.OriginalLength != wantLen {
				t.Errorf("got protocol %q type %q length %d", m.Protocol, m.OriginalContentType, m.OriginalLength)
			}
			if !bytes.Equal(m.Header, sig) {
				t.Errorf("header mismatch")
			}
			if !bytes.Equal(m.Payload, data) {
				t.Errorf("payload mismatch: %d bytes", len(m.Payload))
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	sig, data := sig60(), payload(100)
	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantErr     string
	}{
		{"wrong media type", "application/soap+xml;charset=UTF-16", frame{sig: sig, data: data}.bytes(), "want multipart/encrypted"},
		{"no boundary", `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted"`, frame{sig: sig, data: data}.bytes(), "no boundary"},
		{"other boundary", `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="X"`, frame{sig: sig, data: data}.bytes(), "opening boundary"},
		{"CredSSP", kerberosContentType, frame{sig: sig, data: data, protocol: "application/HTTP-CredSSP-session-encrypted"}.bytes(), "unsupported protocol"},
		{"protocol mismatch", kerberosContentType, frame{sig: sig, data: data, protocol: ProtocolSPNEGO}.bytes(), "disagrees"},
		{"signature too long", kerberosContentType, frame{sig: sig, data: data, headerLen: []byte{0, 0x10, 0, 0}}.bytes(), "exceeds 1024"},
		{"signature past end", kerberosContentType, frame{sig: sig[:10], data: nil, headerLen: []byte{200, 0, 0, 0}, closing: "x"}.bytes(), "exceeds remaining"},
		{"payload shorter than Length", kerberosContentType, frame{sig: sig, data: data, original: "type=a/b;Length=5000"}.bytes(), "exceeds remaining"},
		{"payload longer than Length", kerberosContentType, frame{sig: sig, data: data, original: "type=a/b;Length=50"}.bytes(), "closing boundary"},
		{"bad Length", kerberosContentType, frame{sig: sig, data: data, original: "type=a/b;Length=-1"}.bytes(), "bad OriginalContent Length"},
		{"no closing boundary", kerberosContentType, frame{sig: sig, data: data, closing: "--Encrypted Boundary\r\n"}.bytes(), "closing boundary"},
		{"wrong octet type", kerberosContentType, frame{sig: sig, data: data, octetHeaders: "Content-Type: text/plain\r\n"}.bytes(), "want application/octet-stream"},
		{"truncated", kerberosContentType, []byte("--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"), "unterminated"},
		{"empty", kerberosContentType, nil, "opening boundary"},
		{"garbage line", kerberosContentType, []byte("--Encrypted Boundary\r\n\x00\x01\r\n--Encrypted Boundary\r\n"), "malformed header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.contentType, tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIsEncrypted(t *testing.T) {
	tests := map[string]bool{
		kerberosContentType:                   true,
		"Multipart/Encrypted ;boundary=x":     true,
		"application/soap+xml;charset=UTF-16": false,
		"":                                    false,
	}
	for ct, want := range tests {
		if got := IsEncrypted(ct); got != want {
			t.Errorf("IsEncrypted(%q) = %v, want %v", ct, got, want)
		}
	}
}

func FuzzMultipartDecode(f *testing.F) {
	ct, body := Encode(&Message{Header: sig60(), Payload: payload(300)})
	f.Add(ct, body)
	f.Add(ct, frame{indent: "\t", sig: sig60(), data: payload(20), beforeClose: "\r\n"}.bytes())
	f.Add(ct, frame{sig: sig60(), data: payload(20), original: "type=application/soap+xml"}.bytes())
	f.Add(`multipart/encrypted;boundary="b"`, []byte("--b\r\nContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n--b\r\n\x01\x00\x00\x00x--b--"))
	f.Add(ct, []byte{})
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := Decode(contentType, body)
		if err != nil {
			return
		}
		if len(m.Header) > MaxHeaderLength {
			t.Fatalf("header length %d above bound", len(m.Header))
		}
		// Whatever decodes must survive our own encoder unchanged.
		ct2, body2 := Encode(m)
		m2, err := Decode(ct2, body2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		wantType := m.OriginalContentType
		if wantType == "" {
			wantType = DefaultOriginalContentType
		}
		if m2.Protocol != m.Protocol || m2.OriginalContentType != wantType || m2.OriginalLength != len(m.Payload) ||
			!bytes.Equal(m2.Header, m.Header) || !bytes.Equal(m2.Payload, m.Payload) {
			t.Fatalf("re-decode mismatch:\n%+v\n%+v", m, m2)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	ct, body := Encode(&Message{Header: sig60(), Payload: payload(64 << 10)})
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(ct, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m := &Message{Header: sig60(), Payload: payload(64 << 10)}
	b.SetBytes(int64(len(m.Payload)))
	for b.Loop() {
		Encode(m)
	}
}

// TestSignatureLengthThatLooksLikeWhiteSpace: a length prefix whose first
// byte is a tab or a space must not be skipped as white space.
func TestSignatureLengthThatLooksLikeWhiteSpace(t *testing.T) {
	for _, n := range []int{0x09, 0x20} {
		m := &Message{Protocol: ProtocolKerberos, Header: bytes.Repeat([]byte{0xAB}, n), Payload: []byte("payload")}
		ct, body := Encode(m)
		got, err := Decode(ct, body)
		if err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		if !bytes.Equal(got.Header, m.Header) || !bytes.Equal(got.Payload, m.Payload) {
			t.Fatalf("length %d: header %d bytes, payload %q", n, len(got.Header), got.Payload)
		}
	}
}
