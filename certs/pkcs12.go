package certs

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"unicode/utf16"
)

// DefaultPKCS12Password protects the .p12 files unless another password is
// chosen. The bundle sits next to the unencrypted PEM key with the same
// 0600 mode, so the password adds no secrecy; it exists because Windows'
// import dialog and Import-PfxCertificate handle an empty one poorly.
const DefaultPKCS12Password = "wefgate"

// The PKCS#12 written here uses the legacy algorithms (3DES with the
// PKCS#12 KDF, HMAC-SHA1 MAC): the only ones Windows Server 2012 R2 and
// Windows 10 before 1709 can import, and still readable everywhere else.
const (
	pkcs12Iterations = 2048
	pkcs12SaltLen    = 8
)

var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidPBEWithSHAAnd3DESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidShroudedKeyBag       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509CertType         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidSHA1                 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
)

// PKCS#12 key derivation purposes (RFC 7292 B.3).
const (
	kdfKey = 1
	kdfIV  = 2
	kdfMAC = 3
)

type pfx struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, built by explicit0
}

type macData struct {
	Mac        digestInfo
	MacSalt    []byte
	Iterations int
}

type digestInfo struct {
	Algorithm algorithmIdentifier
	Digest    []byte
}

// algorithmIdentifier mirrors pkix.AlgorithmIdentifier but always
// writes Parameters, which the MAC's SHA-1 identifier needs as NULL.
type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm algorithmIdentifier
	EncryptedContent           asn1.RawValue // [0] IMPLICIT OCTET STRING
}

type encryptedPrivateKeyInfo struct {
	Algorithm     algorithmIdentifier
	EncryptedData []byte
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  // [0] EXPLICIT
	Attributes []bagAttribute `asn1:"set,optional,omitempty"`
}

type bagAttribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue // SET OF one value
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data asn1.RawValue // [0] EXPLICIT OCTET STRING
}

// encodePKCS12 builds a password-protected PKCS#12 file holding leaf with
// its key (linked by a localKeyId, which Windows uses to pair them) and the
// CA certificates, for import into the Windows machine store.
func encodePKCS12(random io.Reader, key *ecdsa.PrivateKey, leaf *x509.Certificate, cas []*x509.Certificate, friendlyName, password string) ([]byte, error) {
	pw := bmpPassword(password)
	keyID := sha1.Sum(leaf.Raw)
	leafAttrs, err := leafAttributes(keyID[:], friendlyName)
	if err != nil {
		return nil, err
	}

	var certBags []safeBag
	for i, c := range append([]*x509.Certificate{leaf}, cas...) {
		bag, err := asn1.Marshal(certBag{ID: oidX509CertType, Data: explicit0(octetString(c.Raw))})
		if err != nil {
			return nil, fmt.Errorf("encode PKCS#12 certificate bag: %w", err)
		}
		sb := safeBag{ID: oidCertBag, Value: explicit0(bag)}
		if i == 0 {
			sb.Attributes = leafAttrs
		}
		certBags = append(certBags, sb)
	}
	certContents, err := asn1.Marshal(certBags)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 certificates: %w", err)
	}
	certAlg, certCipher, err := pbeEncrypt(random, pw, certContents)
	if err != nil {
		return nil, err
	}
	encCerts, err := asn1.Marshal(encryptedData{
		EncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidData,
			ContentEncryptionAlgorithm: certAlg,
			EncryptedContent:           asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: certCipher},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 encrypted certificates: %w", err)
	}

	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 key: %w", err)
	}
	keyAlg, keyCipher, err := pbeEncrypt(random, pw, pkcs8)
	if err != nil {
		return nil, err
	}
	shrouded, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: keyAlg, EncryptedData: keyCipher})
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 shrouded key: %w", err)
	}
	keyContents, err := asn1.Marshal([]safeBag{{ID: oidShroudedKeyBag, Value: explicit0(shrouded), Attributes: leafAttrs}})
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 key bag: %w", err)
	}

	authSafe, err := asn1.Marshal([]contentInfo{
		{ContentType: oidEncryptedData, Content: explicit0(encCerts)},
		{ContentType: oidData, Content: explicit0(octetString(keyContents))},
	})
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 authenticated safe: %w", err)
	}

	macSalt := make([]byte, pkcs12SaltLen)
	if _, err := io.ReadFull(random, macSalt); err != nil {
		return nil, fmt.Errorf("PKCS#12 MAC salt: %w", err)
	}
	mac := hmac.New(sha1.New, pkcs12KDF(pw, macSalt, kdfMAC, pkcs12Iterations, sha1.Size))
	mac.Write(authSafe)
	out, err := asn1.Marshal(pfx{
		Version:  3,
		AuthSafe: contentInfo{ContentType: oidData, Content: explicit0(octetString(authSafe))},
		MacData: macData{
			Mac:        digestInfo{Algorithm: algorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}, Digest: mac.Sum(nil)},
			MacSalt:    macSalt,
			Iterations: pkcs12Iterations,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return out, nil
}

func leafAttributes(keyID []byte, friendlyName string) ([]bagAttribute, error) {
	id, err := asn1.Marshal(keyID)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 localKeyId: %w", err)
	}
	attrs := []bagAttribute{{ID: oidLocalKeyID, Value: setOf(id)}}
	if friendlyName != "" {
		name := bmpString(friendlyName)
		der, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagBMPString, Bytes: name})
		if err != nil {
			return nil, fmt.Errorf("encode PKCS#12 friendlyName: %w", err)
		}
		attrs = append(attrs, bagAttribute{ID: oidFriendlyName, Value: setOf(der)})
	}
	return attrs, nil
}

// pbeEncrypt encrypts plain with pbeWithSHAAnd3-KeyTripleDES-CBC under a
// fresh salt and returns the algorithm identifier naming it.
func pbeEncrypt(random io.Reader, pw, plain []byte) (algorithmIdentifier, []byte, error) {
	salt := make([]byte, pkcs12SaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return algorithmIdentifier{}, nil, fmt.Errorf("PKCS#12 salt: %w", err)
	}
	params, err := asn1.Marshal(pbeParams{Salt: salt, Iterations: pkcs12Iterations})
	if err != nil {
		return algorithmIdentifier{}, nil, fmt.Errorf("encode PBE parameters: %w", err)
	}
	block, err := des.NewTripleDESCipher(pkcs12KDF(pw, salt, kdfKey, pkcs12Iterations, 24))
	if err != nil {
		return algorithmIdentifier{}, nil, fmt.Errorf("PKCS#12 cipher: %w", err)
	}
	iv := pkcs12KDF(pw, salt, kdfIV, pkcs12Iterations, des.BlockSize)
	pad := des.BlockSize - len(plain)%des.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return algorithmIdentifier{Algorithm: oidPBEWithSHAAnd3DESCBC, Parameters: asn1.RawValue{FullBytes: params}}, buf, nil
}

// pkcs12KDF is the key derivation of RFC 7292 appendix B.2 with SHA-1
// (u = 20, v = 64). pw is the BMPString password with its terminating NUL.
func pkcs12KDF(pw, salt []byte, id byte, iterations, size int) []byte {
	const u, v = sha1.Size, 64
	fill := func(src []byte) []byte {
		if len(src) == 0 {
			return nil
		}
		out := make([]byte, v*((len(src)+v-1)/v))
		for i := range out {
			out[i] = src[i%len(src)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	I := append(fill(salt), fill(pw)...)
	var out []byte
	for len(out) < size {
		h := sha1.New()
		h.Write(d)
		h.Write(I)
		a := h.Sum(nil)
		for r := 1; r < iterations; r++ {
			sum := sha1.Sum(a)
			a = sum[:]
		}
		out = append(out, a...)
		if len(out) >= size {
			break
		}
		b := make([]byte, v)
		for i := range b {
			b[i] = a[i%u]
		}
		// I_j = (I_j + B + 1) mod 2^(8v), big-endian, for every v-byte block.
		for j := 0; j < len(I); j += v {
			carry := uint16(1)
			for k := v - 1; k >= 0; k-- {
				sum := uint16(I[j+k]) + uint16(b[k]) + carry
				I[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
	return out[:size]
}

// bmpPassword encodes a password as RFC 7292 wants it: UTF-16BE with a
// two-byte NUL terminator.
func bmpPassword(password string) []byte {
	return append(bmpString(password), 0, 0)
}

func bmpString(s string) []byte {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

func setOf(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: der}
}

func octetString(b []byte) []byte {
	// Hand-encoded: asn1.Marshal cannot fail on bytes, and DER length
	// encoding is all there is to it.
	n := len(b)
	var header []byte
	switch {
	case n < 0x80:
		header = []byte{asn1.TagOctetString, byte(n)}
	default:
		var lenBytes []byte
		for l := n; l > 0; l >>= 8 {
			lenBytes = append([]byte{byte(l)}, lenBytes...)
		}
		header = append([]byte{asn1.TagOctetString, 0x80 | byte(len(lenBytes))}, lenBytes...)
	}
	return append(header, b...)
}
