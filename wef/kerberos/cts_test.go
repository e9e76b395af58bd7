package kerberos

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// The hand-written RFC 3962 path must agree with gokrb5's in both
// directions for every length around the block boundaries.
func TestCTSMatchesGokrb5(t *testing.T) {
	for _, enctype := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
		key := fixedKey(enctype)
		et, err := crypto.GetEtype(enctype)
		if err != nil {
			t.Fatal(err)
		}
		c, err := newCTSHMACSHA1(et, key.KeyValue, keyUsageInitiatorSeal)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 80; n++ {
			plain := bytes.Repeat([]byte{byte(n)}, n)
			ours, err := c.seal(plain[:n/2], plain[n/2:])
			if err != nil {
				t.Fatal(err)
			}
			if len(ours) != 16+n+12 {
				t.Fatalf("%s n=%d: ciphertext %d bytes", enctypeName(enctype), n, len(ours))
			}
			got, err := et.DecryptMessage(key.KeyValue, ours, keyUsageInitiatorSeal)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s n=%d: gokrb5 cannot open ours: %v", enctypeName(enctype), n, err)
			}
			_, theirs, err := et.EncryptMessage(key.KeyValue, plain, keyUsageInitiatorSeal)
			if err != nil {
				t.Fatal(err)
			}
			got, err = c.open(theirs)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s n=%d: cannot open gokrb5's: %v", enctypeName(enctype), n, err)
			}
			theirs[len(theirs)/2] ^= 1
			if _, err := c.open(theirs); err == nil {
				t.Fatalf("%s n=%d: tampered ciphertext opened", enctypeName(enctype), n)
			}
		}
	}
}
