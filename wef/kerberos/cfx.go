package kerberos

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 4121 §4.2.2 wrap token flags.
const (
	wrapFlagSentByAcceptor = 0x01
	wrapFlagSealed         = 0x02
	wrapFlagAcceptorSubkey = 0x04
)

// RFC 4121 §2 key usages for sealed wrap tokens.
const (
	keyUsageAcceptorSeal  = 22
	keyUsageInitiatorSeal = 24
)

const (
	wrapHeaderLen = 16
	wrapTokID     = 0x0504 // RFC 4121 §4.2.6.2
)

// sealer holds the per-context state of RFC 4121 CFX sealed wrap tokens.
// It is not safe for concurrent use.
type sealer struct {
	key            types.EncryptionKey
	et             etype.EType
	send, recv     messageCipher
	acceptor       bool // we are the acceptor
	acceptorSubkey bool // key is the acceptor subkey (flag 0x04)
	sendSeq        uint64
	recvSeq        uint64
}

func newSealer(key types.EncryptionKey, acceptor, acceptorSubkey bool, sendSeq, recvSeq uint64) (*sealer, error) {
	if err := requireAES(key.KeyType, "per-message key"); err != nil {
		return nil, err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedEnctype, key.KeyType)
	}
	if len(key.KeyValue) != keySize(key.KeyType) {
		return nil, fmt.Errorf("%w: key of %d bytes for enctype %d", ErrMalformed, len(key.KeyValue), key.KeyType)
	}
	sendUsage, recvUsage := uint32(keyUsageInitiatorSeal), uint32(keyUsageAcceptorSeal)
	if acceptor {
		sendUsage, recvUsage = recvUsage, sendUsage
	}
	send, err := newMessageCipher(et, key.KeyValue, sendUsage)
	if err != nil {
		return nil, err
	}
	recv, err := newMessageCipher(et, key.KeyValue, recvUsage)
	if err != nil {
		return nil, err
	}
	return &sealer{key: key, et: et, send: send, recv: recv, acceptor: acceptor, acceptorSubkey: acceptorSubkey,
		sendSeq: sendSeq, recvSeq: recvSeq}, nil
}

// requireAES refuses anything but the AES enctypes; RC4 gets its own error
// because it is a fixable service-account setting.
func requireAES(enctype int32, what string) error {
	switch enctype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return nil
	case etypeID.RC4_HMAC, etypeID.RC4_HMAC_EXP:
		return fmt.Errorf("%w (%s is %s)", ErrRC4, what, enctypeName(enctype))
	}
	return fmt.Errorf("%w: %s is %s, only AES is accepted", ErrUnsupportedEnctype, what, enctypeName(enctype))
}

func keySize(enctype int32) int {
	switch enctype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128:
		return 16
	case etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA384_192:
		return 32
	}
	return 0
}

func enctypeName(enctype int32) string {
	var name string
	switch enctype {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		name = "aes128-cts-hmac-sha1-96"
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		name = "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		name = "aes128-cts-hmac-sha256-128"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		name = "aes256-cts-hmac-sha384-192"
	case etypeID.RC4_HMAC:
		name = "arcfour-hmac"
	case etypeID.RC4_HMAC_EXP:
		name = "arcfour-hmac-exp"
	case etypeID.DES3_CBC_SHA1_KD:
		name = "des3-cbc-sha1"
	case etypeID.DES_CBC_MD5:
		name = "des-cbc-md5"
	case etypeID.DES_CBC_CRC:
		name = "des-cbc-crc"
	default:
		name = "enctype"
	}
	return fmt.Sprintf("%s(%d)", name, enctype)
}

func (s *sealer) hmacLen() int { return s.recv.hmacLen() }

func (s *sealer) ourFlags() byte {
	f := byte(wrapFlagSealed)
	if s.acceptor {
		f |= wrapFlagSentByAcceptor
	}
	if s.acceptorSubkey {
		f |= wrapFlagAcceptorSubkey
	}
	return f
}

// wrap seals plain as Windows does: EC=0 and RRC = 16 + HMAC length, so that
// everything but the encrypted data sits in the leading "signature" part,
// and data has exactly len(plain) bytes.
func (s *sealer) wrap(plain []byte) (sig, data []byte, err error) {
	var hdr [wrapHeaderLen]byte
	binary.BigEndian.PutUint16(hdr[:2], wrapTokID)
	hdr[2] = s.ourFlags()
	hdr[3] = 0xff
	binary.BigEndian.PutUint64(hdr[8:], s.sendSeq)

	// The encrypted header copy carries RRC = 0 (RFC 4121 §4.2.5).
	ct, err := s.send.seal(plain, hdr[:])
	if err != nil {
		return nil, nil, fmt.Errorf("seal message: %w", err)
	}

	rrc := wrapHeaderLen + s.send.hmacLen()
	binary.BigEndian.PutUint16(hdr[6:8], uint16(rrc))
	token := make([]byte, wrapHeaderLen+len(ct))
	copy(token, hdr[:])
	// Rotate right by RRC: the last rrc bytes go first.
	n := copy(token[wrapHeaderLen:], ct[len(ct)-rrc:])
	copy(token[wrapHeaderLen+n:], ct[:len(ct)-rrc])

	s.sendSeq++
	split := len(token) - len(plain)
	return token[:split:split], token[split:], nil
}

// unwrap verifies and decrypts a sealed wrap token split as sig‖data. It
// accepts any RRC and the Windows rotation by EC+RRC.
func (s *sealer) unwrap(sig, data []byte) (plain []byte, err error) {
	defer guard("wrap token", &err)
	if len(sig) < wrapHeaderLen {
		if len(sig) >= 2 && sig[0] == 0x02 && sig[1] == 0x01 {
			return nil, fmt.Errorf("%w: RFC 4757 RC4 wrap token", ErrRC4)
		}
		return nil, malformed("wrap token of %d bytes", len(sig))
	}
	hdr := sig[:wrapHeaderLen]
	if hdr[0] == 0x02 && hdr[1] == 0x01 {
		return nil, fmt.Errorf("%w: RFC 4757 RC4 wrap token", ErrRC4)
	}
	if binary.BigEndian.Uint16(hdr) != wrapTokID {
		return nil, malformed("wrap token id %x, want 0504", hdr[:2])
	}
	if hdr[3] != 0xff {
		return nil, malformed("wrap token filler %#x", hdr[3])
	}
	flags := hdr[2]
	if flags&wrapFlagSealed == 0 {
		return nil, malformed("wrap token is not sealed (integrity only); message encryption is required")
	}
	if fromAcceptor := flags&wrapFlagSentByAcceptor != 0; fromAcceptor == s.acceptor {
		return nil, fmt.Errorf("%w: flags %#x", ErrDirection, flags)
	}
	if (flags&wrapFlagAcceptorSubkey != 0) != s.acceptorSubkey {
		return nil, fmt.Errorf("%w: acceptor-subkey flag in %#x does not match the context", ErrDirection, flags)
	}
	ec := int(binary.BigEndian.Uint16(hdr[4:6]))
	rrc := int(binary.BigEndian.Uint16(hdr[6:8]))
	seq := binary.BigEndian.Uint64(hdr[8:16])

	ctLen := len(sig) - wrapHeaderLen + len(data)
	hmacLen := s.hmacLen()
	if ctLen < s.et.GetConfounderByteSize()+ec+wrapHeaderLen+hmacLen {
		return nil, malformed("wrap token ciphertext of %d bytes too short for EC=%d", ctLen, ec)
	}

	rotations := []int{rrc}
	if ec != 0 && rrc == wrapHeaderLen+hmacLen {
		// MS-KILE GSS_WrapEx: Windows rotates by RRC+EC; MIT by RRC alone.
		rotations = []int{rrc + ec, rrc}
	}
	ct := make([]byte, ctLen)
	var decrypted []byte
	for _, rot := range rotations {
		// open decrypts in place, so each attempt starts from the token.
		copyRotatedLeft(ct, sig[wrapHeaderLen:], data, rot)
		decrypted, err = s.recv.open(ct)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	if len(decrypted) < ec+wrapHeaderLen {
		return nil, malformed("decrypted wrap token too short")
	}
	copyHdr := decrypted[len(decrypted)-wrapHeaderLen:]
	// The copy's RRC field is not compared: senders differ on whether it
	// holds 0 or the rotation count.
	if !bytes.Equal(copyHdr[:6], hdr[:6]) || !bytes.Equal(copyHdr[8:], hdr[8:]) {
		return nil, fmt.Errorf("%w: encrypted header copy does not match the clear header", ErrIntegrity)
	}
	if seq != s.recvSeq {
		kind := "gap"
		if seq < s.recvSeq {
			kind = "replay"
		}
		return nil, fmt.Errorf("%w: %s: got %d, want %d", ErrSequence, kind, seq, s.recvSeq)
	}
	s.recvSeq++
	return decrypted[:len(decrypted)-wrapHeaderLen-ec], nil
}

// copyRotatedLeft writes (a‖b) rotated left by rot into dst, which has
// len(a)+len(b) bytes.
func copyRotatedLeft(dst, a, b []byte, rot int) {
	total := len(a) + len(b)
	rot %= total
	n := copyRange(dst, a, b, rot, total)
	copyRange(dst[n:], a, b, 0, rot)
}

// copyRange copies (a‖b)[from:to] to dst.
func copyRange(dst, a, b []byte, from, to int) int {
	n := 0
	if from < len(a) {
		end := min(to, len(a))
		n = copy(dst, a[from:end])
		from = end
	}
	if from < to {
		n += copy(dst[n:], b[from-len(a):to-len(a)])
	}
	return n
}
