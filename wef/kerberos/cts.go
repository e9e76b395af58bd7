package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"

	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// messageCipher is RFC 3961 encrypt/decrypt for one key usage: confounder,
// encryption and truncated HMAC.
type messageCipher interface {
	// seal returns E(confounder‖plain‖trailer)‖HMAC.
	seal(plain, trailer []byte) ([]byte, error)
	// open verifies and decrypts ct in place and returns the plaintext
	// without the confounder.
	open(ct []byte) ([]byte, error)
	hmacLen() int
}

func newMessageCipher(et etype.EType, key []byte, usage uint32) (messageCipher, error) {
	switch et.GetETypeID() {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
		return newCTSHMACSHA1(et, key, usage)
	}
	return genericCipher{et: et, key: key, usage: usage}, nil
}

// genericCipher uses gokrb5 per message; it serves the RFC 8009 enctypes.
type genericCipher struct {
	et    etype.EType
	key   []byte
	usage uint32
}

func (c genericCipher) seal(plain, trailer []byte) ([]byte, error) {
	msg := make([]byte, 0, len(plain)+len(trailer))
	_, ct, err := c.et.EncryptMessage(c.key, append(append(msg, plain...), trailer...), c.usage)
	return ct, err
}

func (c genericCipher) open(ct []byte) ([]byte, error) {
	return c.et.DecryptMessage(c.key, ct, c.usage)
}

func (c genericCipher) hmacLen() int { return c.et.GetHMACBitLength() / 8 }

// ctsHMACSHA1 is aes{128,256}-cts-hmac-sha1-96 (RFC 3962) with the usage
// keys derived once per context instead of once per message, which gokrb5
// does.
type ctsHMACSHA1 struct {
	block cipher.Block
	mac   hash.Hash
}

const (
	aesBlock   = aes.BlockSize
	sha1MACLen = 12
)

var errIntegrity = errors.New("HMAC mismatch")

func newCTSHMACSHA1(et etype.EType, key []byte, usage uint32) (*ctsHMACSHA1, error) {
	ke, err := et.DeriveKey(key, common.GetUsageKe(usage))
	if err != nil {
		return nil, fmt.Errorf("derive encryption key: %w", err)
	}
	ki, err := et.DeriveKey(key, common.GetUsageKi(usage))
	if err != nil {
		return nil, fmt.Errorf("derive integrity key: %w", err)
	}
	block, err := aes.NewCipher(ke)
	if err != nil {
		return nil, fmt.Errorf("AES key: %w", err)
	}
	return &ctsHMACSHA1{block: block, mac: hmac.New(sha1.New, ki)}, nil
}

func (c *ctsHMACSHA1) hmacLen() int { return sha1MACLen }

func (c *ctsHMACSHA1) seal(plain, trailer []byte) ([]byte, error) {
	n := aesBlock + len(plain) + len(trailer)
	padded := (n + aesBlock - 1) / aesBlock * aesBlock
	out := make([]byte, padded+sha1MACLen)
	if _, err := rand.Read(out[:aesBlock]); err != nil {
		return nil, fmt.Errorf("confounder: %w", err)
	}
	copy(out[aesBlock+copy(out[aesBlock:], plain):], trailer)

	c.mac.Reset()
	c.mac.Write(out[:n])
	var sum [sha1.Size]byte
	mac := c.mac.Sum(sum[:0])[:sha1MACLen]

	var iv [aesBlock]byte
	cipher.NewCBCEncrypter(c.block, iv[:]).CryptBlocks(out[:padded], out[:padded])
	// CBC ciphertext stealing (CS3): swap the last two blocks, then drop
	// the padding, which lands at the end.
	if padded > aesBlock {
		var tmp [aesBlock]byte
		last, prev := out[padded-aesBlock:padded], out[padded-2*aesBlock:padded-aesBlock]
		copy(tmp[:], last)
		copy(last, prev)
		copy(prev, tmp[:])
	}
	copy(out[n:], mac)
	return out[:n+sha1MACLen], nil
}

func (c *ctsHMACSHA1) open(ct []byte) ([]byte, error) {
	if len(ct) < aesBlock+sha1MACLen {
		return nil, fmt.Errorf("ciphertext of %d bytes too short", len(ct))
	}
	e, mac := ct[:len(ct)-sha1MACLen], ct[len(ct)-sha1MACLen:]
	if len(e) == aesBlock {
		c.block.Decrypt(e, e)
		return c.verify(e, mac)
	}
	n := len(e)
	m := (n + aesBlock - 1) / aesBlock // blocks, the last one partial
	r := n - (m-1)*aesBlock            // bytes in the last block, 1..16

	// The last full ciphertext block holds E(m) (swapped), the partial
	// block the head of E(m-1).
	var prevC, d, em1, pm1, pm [aesBlock]byte
	if m > 2 {
		copy(prevC[:], e[(m-3)*aesBlock:(m-2)*aesBlock])
	}
	x, y := e[(m-2)*aesBlock:(m-1)*aesBlock], e[(m-1)*aesBlock:]
	c.block.Decrypt(d[:], x)
	copy(em1[:], y)
	copy(em1[r:], d[r:])
	for i := range r {
		pm[i] = d[i] ^ y[i]
	}
	c.block.Decrypt(pm1[:], em1[:])
	for i := range pm1 {
		pm1[i] ^= prevC[i]
	}
	if m > 2 {
		var iv [aesBlock]byte
		cipher.NewCBCDecrypter(c.block, iv[:]).CryptBlocks(e[:(m-2)*aesBlock], e[:(m-2)*aesBlock])
	}
	copy(e[(m-2)*aesBlock:], pm1[:])
	copy(e[(m-1)*aesBlock:], pm[:r])
	return c.verify(e, mac)
}

// verify checks the HMAC over confounder‖plaintext and strips the confounder.
func (c *ctsHMACSHA1) verify(e, mac []byte) ([]byte, error) {
	c.mac.Reset()
	c.mac.Write(e)
	var sum [sha1.Size]byte
	if subtle.ConstantTimeCompare(c.mac.Sum(sum[:0])[:sha1MACLen], mac) != 1 {
		return nil, errIntegrity
	}
	return e[aesBlock:], nil
}
