package kerberos

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
)

// DER encodings of the mechanism OIDs that appear in HTTP tokens.
var (
	oidKRB5       = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02} // 1.2.840.113554.1.2.2
	oidMSKRB5     = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02} // 1.2.840.48018.1.2.2
	oidSPNEGO     = []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}                   // 1.3.6.1.5.5.2
	asn1OIDKRB5   = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	asn1OIDMSKRB5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
	asn1OIDNTLM   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
)

// tokenID is the two-byte TOK_ID of a KRB5 mechanism token (RFC 4121 §4.1).
type tokenID uint16

const (
	tokIDAPReq    tokenID = 0x0100
	tokIDAPRep    tokenID = 0x0200
	tokIDKRBError tokenID = 0x0300
)

var ntlmSignature = []byte("NTLMSSP\x00")

func isNTLM(b []byte) bool { return bytes.HasPrefix(b, ntlmSignature) }

// parseDERLength reads a definite DER length at b and returns it with the
// number of bytes it took.
func parseDERLength(b []byte) (length, n int, err error) {
	if len(b) == 0 {
		return 0, 0, malformed("missing length")
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	octets := int(b[0] & 0x7f)
	if octets == 0 || octets > 4 || len(b) < 1+octets {
		return 0, 0, malformed("bad length encoding")
	}
	var l uint64
	for _, c := range b[1 : 1+octets] {
		l = l<<8 | uint64(c)
	}
	if l > 1<<28 {
		return 0, 0, malformed("length %d too large", l)
	}
	return int(l), 1 + octets, nil
}

func appendDERLength(dst []byte, l int) []byte {
	switch {
	case l < 0x80:
		return append(dst, byte(l))
	case l < 0x100:
		return append(dst, 0x81, byte(l))
	case l < 0x10000:
		return append(dst, 0x82, byte(l>>8), byte(l))
	case l < 0x1000000:
		return append(dst, 0x83, byte(l>>16), byte(l>>8), byte(l))
	}
	return append(dst, 0x84, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
}

// splitInitialContextToken parses the RFC 2743 §3.1 framing
// 0x60 len OID inner and returns the DER OID and the inner bytes.
func splitInitialContextToken(b []byte) (oid, inner []byte, err error) {
	if len(b) < 2 || b[0] != 0x60 {
		return nil, nil, malformed("not a GSS initial context token")
	}
	l, n, err := parseDERLength(b[1:])
	if err != nil {
		return nil, nil, err
	}
	body := b[1+n:]
	if l > len(body) {
		return nil, nil, malformed("GSS token length %d exceeds %d bytes", l, len(body))
	}
	body = body[:l]
	if len(body) < 2 || body[0] != 0x06 || int(body[1])+2 > len(body) || body[1] >= 0x80 {
		return nil, nil, malformed("GSS token without mechanism OID")
	}
	oidLen := int(body[1]) + 2
	return body[:oidLen], body[oidLen:], nil
}

func frameInitialContextToken(oid, inner []byte) []byte {
	l := len(oid) + len(inner)
	out := make([]byte, 0, l+6)
	out = append(out, 0x60)
	out = appendDERLength(out, l)
	out = append(out, oid...)
	return append(out, inner...)
}

func isKRB5OID(oid []byte) bool { return bytes.Equal(oid, oidKRB5) || bytes.Equal(oid, oidMSKRB5) }

// krb5Token is a parsed KRB5 mechanism token (RFC 4121 §4.1): OID, tok_id
// and the Kerberos message.
type krb5Token struct {
	oid     []byte
	tokID   tokenID
	message []byte
}

func parseKRB5Token(b []byte) (krb5Token, error) {
	if isNTLM(b) {
		return krb5Token{}, ErrNTLM
	}
	oid, inner, err := splitInitialContextToken(b)
	if err != nil {
		return krb5Token{}, err
	}
	if !isKRB5OID(oid) {
		return krb5Token{}, fmt.Errorf("%w: inner token mechanism %s is not Kerberos", ErrUnsupportedMech, describeOID(oid))
	}
	if len(inner) < 2 {
		return krb5Token{}, malformed("KRB5 token without tok_id")
	}
	return krb5Token{oid: oid, tokID: tokenID(binary.BigEndian.Uint16(inner)), message: inner[2:]}, nil
}

func (t krb5Token) marshal() []byte {
	inner := make([]byte, 0, 2+len(t.message))
	inner = binary.BigEndian.AppendUint16(inner, uint16(t.tokID))
	inner = append(inner, t.message...)
	return frameInitialContextToken(t.oid, inner)
}

func describeOID(der []byte) string {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(der, &oid); err != nil {
		return fmt.Sprintf("%x", der)
	}
	return oid.String()
}

// gssChecksum is the RFC 4121 §4.1.1 authenticator checksum (type 0x8003).
type gssChecksum struct {
	binding [16]byte
	flags   uint32
}

const gssChecksumType = 0x8003

// GSS context flags (RFC 2744) as carried in the 0x8003 checksum.
const (
	FlagDelegate uint32 = 0x01
	FlagMutual   uint32 = 0x02
	FlagReplay   uint32 = 0x04
	FlagSequence uint32 = 0x08
	FlagConf     uint32 = 0x10
	FlagInteg    uint32 = 0x20
	// FlagsWindows is what a Windows WinRM client requests.
	FlagsWindows = FlagMutual | FlagReplay | FlagSequence | FlagConf | FlagInteg
	// requiredFlags are what message encryption with mutual authentication needs.
	requiredFlags = FlagMutual | FlagConf | FlagInteg
)

func parseGSSChecksum(b []byte) (gssChecksum, error) {
	var c gssChecksum
	if len(b) < 24 {
		return c, malformed("GSS checksum of %d bytes, want at least 24", len(b))
	}
	if l := binary.LittleEndian.Uint32(b); l != 16 {
		return c, malformed("GSS checksum binding length %d, want 16", l)
	}
	copy(c.binding[:], b[4:20])
	c.flags = binary.LittleEndian.Uint32(b[20:24])
	return c, nil
}

func (c gssChecksum) marshal() []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 16)
	copy(b[4:20], c.binding[:])
	binary.LittleEndian.PutUint32(b[20:], c.flags)
	return b
}
