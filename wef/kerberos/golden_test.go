package kerberos

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

// MIT wrap_iov output recorded by the interop tests (-update-golden) must
// keep unwrapping without a KDC or python.
func TestUnwrapMITGolden(t *testing.T) {
	for _, file := range []string{"mit_wrap_to_acceptor.json", "mit_wrap_to_initiator.json"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var tokens []goldenToken
		if err := json.Unmarshal(b, &tokens); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(tokens) == 0 {
			t.Fatalf("%s: no tokens", file)
		}
		for i, g := range tokens {
			key, err := hex.DecodeString(g.Key)
			if err != nil {
				t.Fatal(err)
			}
			newSide := func() *sealer {
				s, err := newSealer(types.EncryptionKey{KeyType: g.Enctype, KeyValue: key}, g.Direction == "to-acceptor", true, 1, g.Seq)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			sig, data := unb64(t, g.Sig), unb64(t, g.Data)
			plain, err := newSide().unwrap(sig, data)
			if err != nil {
				t.Fatalf("%s[%d]: %v", file, i, err)
			}
			if !bytes.Equal(plain, unb64(t, g.Plain)) {
				t.Fatalf("%s[%d]: plaintext %q", file, i, plain)
			}
			if len(sig) != 60 || len(data) != len(plain) {
				t.Errorf("%s[%d]: MIT split %d+%d", file, i, len(sig), len(data))
			}
			tampered := bytes.Clone(data)
			tampered[0] ^= 1
			if _, err := newSide().unwrap(sig, tampered); !errors.Is(err, ErrIntegrity) {
				t.Errorf("%s[%d]: tampered token: %v", file, i, err)
			}
		}
	}
}
