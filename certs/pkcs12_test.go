package certs

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"testing"
)

func TestPKCS12KDFVectors(t *testing.T) {
	// Vectors from golang.org/x/crypto/pkcs12's tests of the same RFC 7292
	// derivation; the second one makes an I_j block start with zero bytes.
	tests := []struct {
		name string
		pw   []byte
		salt string
		want string
	}{
		{"sesame", bmpPassword("sesame"), "ffffffffffffffff", "7cd9fd3e2b3be7691a44e3bef0f9ea0fb9b897d4e325d9d1"},
		{"leading zeros", []byte{0, 0}, "f37e05b518324b4b", "00f759ff47d14dd03665d5943cb3c4a39a2555c02aed66e1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			salt, _ := hex.DecodeString(tt.salt)
			got := hex.EncodeToString(pkcs12KDF(tt.pw, salt, kdfKey, 2048, 24))
			if got != tt.want {
				t.Fatalf("key %s, want %s", got, tt.want)
			}
		})
	}
}

// decodeTestPKCS12 undoes encodePKCS12 for exactly the layout it writes,
// checking the MAC first as any importer does.
func decodeTestPKCS12(t *testing.T, data []byte, password string) (key any, certs []*x509.Certificate) {
	t.Helper()
	pw := bmpPassword(password)
	var p pfx
	if rest, err := asn1.Unmarshal(data, &p); err != nil || len(rest) != 0 {
		t.Fatalf("PFX: %v (%d trailing bytes)", err, len(rest))
	}
	if p.Version != 3 || !p.AuthSafe.ContentType.Equal(oidData) {
		t.Fatalf("PFX version %d content %v", p.Version, p.AuthSafe.ContentType)
	}
	var authSafe []byte
	mustUnmarshal(t, p.AuthSafe.Content.Bytes, &authSafe)
	mac := hmac.New(sha1.New, pkcs12KDF(pw, p.MacData.MacSalt, kdfMAC, p.MacData.Iterations, sha1.Size))
	mac.Write(authSafe)
	if !hmac.Equal(mac.Sum(nil), p.MacData.Mac.Digest) {
		t.Fatal("MAC does not verify")
	}
	var contents []contentInfo
	mustUnmarshal(t, authSafe, &contents)
	if len(contents) != 2 {
		t.Fatalf("%d content infos, want 2", len(contents))
	}

	var enc encryptedData
	mustUnmarshal(t, contents[0].Content.Bytes, &enc)
	plain := pbeDecrypt(t, enc.EncryptedContentInfo.ContentEncryptionAlgorithm, enc.EncryptedContentInfo.EncryptedContent.Bytes, pw)
	var certBags []safeBag
	mustUnmarshal(t, plain, &certBags)
	for _, b := range certBags {
		var cb certBag
		mustUnmarshal(t, b.Value.Bytes, &cb)
		var der []byte
		mustUnmarshal(t, cb.Data.Bytes, &der)
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}

	var keyContents []byte
	mustUnmarshal(t, contents[1].Content.Bytes, &keyContents)
	var keyBags []safeBag
	mustUnmarshal(t, keyContents, &keyBags)
	var epki encryptedPrivateKeyInfo
	mustUnmarshal(t, keyBags[0].Value.Bytes, &epki)
	key, err := x509.ParsePKCS8PrivateKey(pbeDecrypt(t, epki.Algorithm, epki.EncryptedData, pw))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keyBags[0].Attributes[0].Value.Bytes, certBags[0].Attributes[0].Value.Bytes) {
		t.Error("key and leaf do not share a localKeyId")
	}
	return key, certs
}

func pbeDecrypt(t *testing.T, alg algorithmIdentifier, ciphertext, pw []byte) []byte {
	t.Helper()
	if !alg.Algorithm.Equal(oidPBEWithSHAAnd3DESCBC) {
		t.Fatalf("algorithm %v", alg.Algorithm)
	}
	var params pbeParams
	mustUnmarshal(t, alg.Parameters.FullBytes, &params)
	block, err := des.NewTripleDESCipher(pkcs12KDF(pw, params.Salt, kdfKey, params.Iterations, 24))
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, pkcs12KDF(pw, params.Salt, kdfIV, params.Iterations, 8)).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 8 {
		t.Fatalf("bad padding %d", pad)
	}
	return plain[:len(plain)-pad]
}

func mustUnmarshal(t *testing.T, der []byte, v any) {
	t.Helper()
	if rest, err := asn1.Unmarshal(der, v); err != nil || len(rest) != 0 {
		t.Fatalf("unmarshal %T: %v (%d trailing bytes)", v, err, len(rest))
	}
}

func TestIssuedPKCS12HoldsKeyAndChain(t *testing.T) {
	p := newPKI(t)
	cc := issue(t, p, "win10.example.test", WithPKCS12Password("s3cret, ünïcode"))
	data, err := os.ReadFile(cc.PKCS12File)
	if err != nil {
		t.Fatal(err)
	}
	key, certs := decodeTestPKCS12(t, data, "s3cret, ünïcode")
	pemKey, err := loadECKey(cc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pemKey.Equal(key.(*ecdsa.PrivateKey)) {
		t.Error("PKCS#12 key differs from the PEM key")
	}
	want := []*x509.Certificate{cc.Cert, p.Issuing, p.Root}
	if len(certs) != len(want) {
		t.Fatalf("%d certificates, want %d", len(certs), len(want))
	}
	for i := range want {
		if !certs[i].Equal(want[i]) {
			t.Errorf("certificate %d is %q, want %q", i, certs[i].Subject.CommonName, want[i].Subject.CommonName)
		}
	}
}

// TestPKCS12ReadableByOpenSSL checks the bundle against an independent
// PKCS#12 implementation when one is installed.
func TestPKCS12ReadableByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	p := newPKI(t)
	cc := issue(t, p, "win10.example.test")

	out, err := exec.Command(openssl, "pkcs12", "-in", cc.PKCS12File, "-passin", "pass:"+DefaultPKCS12Password, "-nodes", "-nocerts").Output()
	if err != nil {
		t.Fatalf("openssl pkcs12 refused the bundle: %v", err)
	}
	block, _ := pem.Decode(bytes.TrimSpace(out[bytes.Index(out, []byte("-----BEGIN")):]))
	if block == nil {
		t.Fatalf("no PEM key in openssl output:\n%s", out)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := loadECKey(cc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pemKey.Equal(key) {
		t.Error("openssl extracted a different key")
	}

	if err := exec.Command(openssl, "pkcs12", "-in", cc.PKCS12File, "-passin", "pass:wrong", "-nodes", "-noout").Run(); err == nil {
		t.Error("openssl accepted a wrong password")
	}
}
