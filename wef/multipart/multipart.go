// Package multipart encodes and decodes the MS-WSMV multipart/encrypted HTTP
// bodies that carry Kerberos/SPNEGO sealed WS-Management messages.
//
// The format is not standard MIME: there is no blank line after the part
// headers, the binary part starts with a little-endian length of the GSS
// "signature" and there is no CRLF before the closing boundary, so
// mime/multipart cannot read it. Decode is tolerant of the variants written
// by Windows, OpenWEC and the Python WinRM clients; Encode writes exactly the
// bytes a Windows WinRM peer writes.
package multipart

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// Protocol values of the multipart/encrypted Content-Type, one per HTTP
// authentication scheme.
const (
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
)

const (
	// Boundary is the boundary Windows uses and Encode writes.
	Boundary = "Encrypted Boundary"
	// DefaultOriginalContentType is what Windows declares for SOAP bodies.
	DefaultOriginalContentType = "application/soap+xml;charset=UTF-16"
	// MaxHeaderLength bounds the GSS signature length read from the wire.
	// AES tokens use 60 bytes (72 for the SHA-384 variant); anything far
	// larger is garbage, and the bound keeps a forged length from being
	// mistaken for data.
	MaxHeaderLength = 1024
)

const mediaType = "multipart/encrypted"

// Message is one decoded multipart/encrypted body.
type Message struct {
	// Protocol is ProtocolKerberos or ProtocolSPNEGO.
	Protocol string
	// OriginalContentType is the type of the plaintext without its Length
	// parameter, e.g. "application/soap+xml;charset=UTF-16".
	OriginalContentType string
	// OriginalLength is the plaintext length declared in OriginalContent
	// (-1 when the sender omitted it). For AES it equals len(Payload).
	OriginalLength int
	// Header is the GSS wrap token head (the "signature", 60 bytes for AES).
	Header []byte
	// Payload is the rest of the wrap token, the encrypted data.
	Payload []byte
	// Tabs is the framing: part header lines start with a TAB, as
	// pywinrm writes them, instead of at the start of the line, as
	// Windows writes them. Decode reports the sender's framing and Encode
	// writes the one asked for, so a reply can mirror its request: Debian's
	// pywinrm 0.3.0 reads a reply only when its second part's header line
	// is "\tContent-Type: application/octet-stream".
	Tabs bool
}

// Decode parses an HTTP body of type multipart/encrypted. contentType is the
// request's Content-Type header value, which supplies the boundary. The
// returned Header and Payload alias body.
func Decode(contentType string, body []byte) (*Message, error) {
	boundary, protocolParam, err := parseContentType(contentType)
	if err != nil {
		return nil, err
	}
	delim := []byte("--" + boundary)

	start := bytes.Index(body, delim)
	if start < 0 {
		return nil, fmt.Errorf("multipart: opening boundary %q not found", boundary)
	}
	rest := body[start+len(delim):]
	line, rest, ok := cutLine(rest)
	if !ok || len(bytes.TrimSpace(line)) != 0 {
		return nil, errors.New("multipart: malformed opening boundary line")
	}

	m := &Message{OriginalLength: -1}
	partProtocol := ""
	// Part 1: header lines up to the next delimiter.
	for {
		line, next, ok := cutLine(rest)
		if !ok {
			return nil, errors.New("multipart: unterminated first part")
		}
		rest = next
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) < len(line) && line[0] == '\t' && len(trimmed) > 0 && !bytes.HasPrefix(trimmed, delim) {
			m.Tabs = true
		}
		if bytes.HasPrefix(trimmed, delim) {
			if len(bytes.TrimSpace(trimmed[len(delim):])) != 0 {
				return nil, errors.New("multipart: message ends after the first part")
			}
			break
		}
		name, value, isHeader := splitHeader(trimmed)
		if !isHeader {
			if len(bytes.TrimSpace(trimmed)) == 0 {
				continue
			}
			return nil, fmt.Errorf("multipart: malformed header line %q in first part", truncate(line))
		}
		switch {
		case strings.EqualFold(name, "Content-Type"):
			partProtocol = value
		case strings.EqualFold(name, "OriginalContent"):
			if err := m.parseOriginalContent(value); err != nil {
				return nil, err
			}
		}
	}

	if m.Protocol, err = chooseProtocol(protocolParam, partProtocol); err != nil {
		return nil, err
	}

	// Part 2: header lines, then the binary data with no blank line.
	// Header lines are recognised by "token:"; the binary data starts with
	// a small little-endian length whose first byte is never a token
	// character followed by ':'.
	for {
		trimmed := bytes.TrimLeft(rest, " \t")
		if bytes.HasPrefix(trimmed, []byte("\r\n")) {
			// A standard MIME writer's blank line. A length of 0x0A0D or more
			// exceeds MaxHeaderLength, so this cannot be the binary prefix.
			rest = trimmed[2:]
			break
		}
		if !looksLikeHeader(trimmed) {
			// Only white space before a header is skipped: the binary
			// length prefix may itself start with 0x09 or 0x20.
			break
		}
		line, next, ok := cutLine(trimmed)
		if !ok {
			return nil, errors.New("multipart: unterminated second part header")
		}
		name, value, _ := splitHeader(line)
		if strings.EqualFold(name, "Content-Type") && !strings.EqualFold(value, "application/octet-stream") {
			return nil, fmt.Errorf("multipart: second part has Content-Type %q, want application/octet-stream", value)
		}
		rest = next
	}

	if len(rest) < 4 {
		return nil, errors.New("multipart: missing signature length")
	}
	headerLen := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if headerLen > MaxHeaderLength {
		return nil, fmt.Errorf("multipart: signature length %d exceeds %d", headerLen, MaxHeaderLength)
	}
	if int(headerLen) > len(rest) {
		return nil, fmt.Errorf("multipart: signature length %d exceeds remaining %d bytes", headerLen, len(rest))
	}
	m.Header = rest[:headerLen:headerLen]
	rest = rest[headerLen:]

	closing := append(append([]byte{}, delim...), '-', '-')
	if m.OriginalLength >= 0 {
		if m.OriginalLength > len(rest) {
			return nil, fmt.Errorf("multipart: OriginalContent Length=%d exceeds remaining %d bytes", m.OriginalLength, len(rest))
		}
		m.Payload = rest[:m.OriginalLength:m.OriginalLength]
		tail := rest[m.OriginalLength:]
		tail = bytes.TrimPrefix(tail, []byte("\r\n"))
		if !bytes.HasPrefix(tail, closing) {
			return nil, errors.New("multipart: closing boundary does not follow the declared Length")
		}
		return m, nil
	}
	end := bytes.LastIndex(rest, closing)
	if end < 0 {
		return nil, errors.New("multipart: closing boundary not found")
	}
	payload := rest[:end]
	m.Payload = payload[:len(payload):len(payload)]
	return m, nil
}

// Encode writes m the way Windows does: boundary "Encrypted Boundary", no
// leading tabs (a TAB before each part header line when m.Tabs, as pywinrm
// writes), Length = len(m.Payload), no CRLF before the closing boundary.
// An empty Protocol means ProtocolKerberos and an empty
// OriginalContentType means DefaultOriginalContentType.
func Encode(m *Message) (contentType string, body []byte) {
	protocol := m.Protocol
	if protocol == "" {
		protocol = ProtocolKerberos
	}
	original := m.OriginalContentType
	if original == "" {
		original = DefaultOriginalContentType
	}
	length := strconv.Itoa(len(m.Payload))

	var b bytes.Buffer
	b.Grow(210 + len(length) + len(original) + 4 + len(m.Header) + len(m.Payload) + 24)
	indent := ""
	if m.Tabs {
		indent = "\t"
	}
	b.WriteString("--" + Boundary + "\r\n")
	b.WriteString(indent + "Content-Type: " + protocol + "\r\n")
	b.WriteString(indent + "OriginalContent: type=" + original + ";Length=" + length + "\r\n")
	b.WriteString("--" + Boundary + "\r\n")
	b.WriteString(indent + "Content-Type: application/octet-stream\r\n")
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(m.Header)))
	b.Write(n[:])
	b.Write(m.Header)
	b.Write(m.Payload)
	b.WriteString("--" + Boundary + "--\r\n")

	return mediaType + `;protocol="` + protocol + `";boundary="` + Boundary + `"`, b.Bytes()
}

// IsEncrypted reports whether a Content-Type header announces a
// multipart/encrypted body.
func IsEncrypted(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), mediaType)
}

func parseContentType(contentType string) (boundary, protocol string, err error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// mime rejects an unquoted boundary with a space in it
		// (boundary=Encrypted Boundary); read such headers leniently.
		var ok bool
		if mt, params, ok = parseParamsLeniently(contentType); !ok {
			return "", "", fmt.Errorf("multipart: parse Content-Type %q: %w", contentType, err)
		}
	}
	if mt != mediaType {
		return "", "", fmt.Errorf("multipart: Content-Type is %q, want %s", mt, mediaType)
	}
	boundary = params["boundary"]
	if boundary == "" {
		return "", "", errors.New("multipart: Content-Type has no boundary")
	}
	return boundary, params["protocol"], nil
}

func parseParamsLeniently(contentType string) (mediaType string, params map[string]string, ok bool) {
	fields := strings.Split(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(fields[0]))
	if mediaType == "" {
		return "", nil, false
	}
	params = make(map[string]string)
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return mediaType, params, true
}

func chooseProtocol(param, part string) (string, error) {
	p, err := canonicalProtocol(param)
	if err != nil {
		return "", err
	}
	q, err := canonicalProtocol(part)
	if err != nil {
		return "", err
	}
	switch {
	case p == "" && q == "":
		return "", errors.New("multipart: no protocol in Content-Type or first part")
	case p == "":
		return q, nil
	case q != "" && q != p:
		return "", fmt.Errorf("multipart: Content-Type protocol %q disagrees with first part %q", param, part)
	}
	return p, nil
}

func canonicalProtocol(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", nil
	case strings.EqualFold(s, ProtocolKerberos):
		return ProtocolKerberos, nil
	case strings.EqualFold(s, ProtocolSPNEGO):
		return ProtocolSPNEGO, nil
	}
	return "", fmt.Errorf("multipart: unsupported protocol %q", s)
}

// parseOriginalContent reads "type=T[;param=v...];Length=N".
func (m *Message) parseOriginalContent(value string) error {
	var typeParts []string
	for field := range strings.SplitSeq(value, ";") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		k, v, hasEq := strings.Cut(field, "=")
		switch {
		case hasEq && strings.EqualFold(strings.TrimSpace(k), "type") && len(typeParts) == 0:
			typeParts = append(typeParts, strings.TrimSpace(v))
		case hasEq && strings.EqualFold(strings.TrimSpace(k), "Length"):
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return fmt.Errorf("multipart: bad OriginalContent Length %q", v)
			}
			m.OriginalLength = n
		default:
			typeParts = append(typeParts, field)
		}
	}
	m.OriginalContentType = strings.Join(typeParts, ";")
	return nil
}

// cutLine splits off one line terminated by LF, dropping a preceding CR.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:], true
}

func splitHeader(line []byte) (name, value string, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || !isToken(line[:i]) {
		return "", "", false
	}
	return string(line[:i]), strings.TrimSpace(string(line[i+1:])), true
}

// looksLikeHeader reports whether b starts with "token:" and contains a line
// end, i.e. is a header line rather than the binary length prefix.
func looksLikeHeader(b []byte) bool {
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	return i > 0 && i < len(b) && b[i] == ':' && bytes.IndexByte(b[i:], '\n') >= 0
}

func isToken(b []byte) bool {
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return len(b) > 0
}

func isTokenChar(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func truncate(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
