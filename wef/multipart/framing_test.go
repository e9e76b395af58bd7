package multipart

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
)

// readLikePywinrm030 reads a reply as Debian's pywinrm 0.3.0 does
// (winrm/encryption.py, Encryption._decrypt_response and
// _decrypt_message): split at "--Encrypted Boundary\r\n", take the Length
// from the first part, drop the closing boundary, remove the exact line
// "\tContent-Type: application/octet-stream\r\n", then read the 4-byte
// signature length, the signature and the data.
func readLikePywinrm030(body []byte) (sig, data []byte, length int, err error) {
	parts := bytes.Split(body, []byte("--"+Boundary+"\r\n"))
	if len(parts) < 3 {
		return nil, nil, 0, errors.New("fewer than two parts")
	}
	header, payload := bytes.TrimSpace(parts[1]), parts[2]
	_, lengthText, ok := bytes.Cut(header, []byte("Length="))
	if !ok {
		return nil, nil, 0, errors.New("no Length=")
	}
	if length, err = strconv.Atoi(string(lengthText)); err != nil {
		return nil, nil, 0, err
	}
	payload = bytes.TrimSuffix(payload, []byte("--"+Boundary+"--\r\n"))
	encrypted := bytes.ReplaceAll(payload, []byte("\tContent-Type: application/octet-stream\r\n"), nil)
	if len(encrypted) < 4 {
		return nil, nil, 0, errors.New("no signature length")
	}
	n := int(binary.LittleEndian.Uint32(encrypted))
	if n < 0 || 4+n > len(encrypted) {
		return nil, nil, 0, errors.New("signature length " + strconv.Itoa(n) + " beyond the data")
	}
	return encrypted[4 : 4+n], encrypted[4+n:], length, nil
}

// TestFramingMirrored decodes a request in each framing, encodes the reply
// with the framing the request had, and checks that the reply is written
// as that client writes (Windows: no TABs; pywinrm: a TAB before each part
// header line) and that pywinrm 0.3.0's reader can read only the
// TAB-framed one.
func TestFramingMirrored(t *testing.T) {
	sig, data := sig60(), payload(300)
	for _, tc := range []struct {
		name    string
		indent  string
		tabs    bool
		pywinrm bool
	}{
		{"Windows", "", false, false},
		{"pywinrm", "\t", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Decode(kerberosContentType, frame{indent: tc.indent, sig: sig, data: data}.bytes())
			if err != nil {
				t.Fatal(err)
			}
			if req.Tabs != tc.tabs {
				t.Fatalf("request Tabs = %v, want %v", req.Tabs, tc.tabs)
			}
			_, reply := Encode(&Message{Header: sig, Payload: data, Tabs: req.Tabs})
			if want := (frame{indent: tc.indent, sig: sig, data: data}).bytes(); !bytes.Equal(reply, want) {
				t.Errorf("reply\n%q\nwant\n%q", reply[:150], want[:150])
			}
			back, err := Decode(kerberosContentType, reply)
			if err != nil || back.Tabs != tc.tabs || !bytes.Equal(back.Payload, data) {
				t.Fatalf("reply does not decode back: %v (Tabs %v)", err, back != nil && back.Tabs)
			}
			gotSig, gotData, length, err := readLikePywinrm030(reply)
			readable := err == nil && bytes.Equal(gotSig, sig) && bytes.Equal(gotData, data) && length == len(data)
			if readable != tc.pywinrm {
				t.Errorf("pywinrm 0.3.0 reads the reply: %v (err %v), want %v", readable, err, tc.pywinrm)
			}
		})
	}
}
