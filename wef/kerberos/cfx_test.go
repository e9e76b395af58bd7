package kerberos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

func fixedKey(enctype int32) types.EncryptionKey {
	k := make([]byte, keySize(enctype))
	for i := range k {
		k[i] = byte(i*13 + 1)
	}
	return types.EncryptionKey{KeyType: enctype, KeyValue: k}
}

// sealerPair returns an initiator and an acceptor sealer sharing a key and
// sequence numbers, as after a completed handshake.
func sealerPair(t testing.TB, enctype int32) (initiator, acceptor *sealer) {
	t.Helper()
	key := fixedKey(enctype)
	var err error
	if initiator, err = newSealer(key, false, true, 267182760, 261443413); err != nil {
		t.Fatal(err)
	}
	if acceptor, err = newSealer(key, true, true, 261443413, 267182760); err != nil {
		t.Fatal(err)
	}
	return initiator, acceptor
}

func TestWrapLayoutMatchesWindows(t *testing.T) {
	ini, acc := sealerPair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	plain := bytes.Repeat([]byte("<s:Envelope/>"), 250)
	sig, data, err := ini.wrap(plain)
	if err != nil {
		t.Fatal(err)
	}
	// Header bytes from a Windows capture: 050406ff0000001c + seq.
	want := []byte{0x05, 0x04, 0x06, 0xff, 0x00, 0x00, 0x00, 0x1c, 0, 0, 0, 0, 0x0f, 0xec, 0xe2, 0xa8}
	if len(sig) != 60 || !bytes.Equal(sig[:16], want) {
		t.Fatalf("initiator sig %d bytes, header %x, want 60 bytes, header %x", len(sig), sig[:16], want)
	}
	if len(data) != len(plain) {
		t.Fatalf("data %d bytes, want %d", len(data), len(plain))
	}
	sig, data, err = acc.wrap(plain)
	if err != nil {
		t.Fatal(err)
	}
	if sig[2] != 0x07 || binary.BigEndian.Uint64(sig[8:16]) != 261443413 || len(sig) != 60 || len(data) != len(plain) {
		t.Fatalf("acceptor token header %x, %d+%d bytes", sig[:16], len(sig), len(data))
	}
}

func TestWrapUnwrapBothDirections(t *testing.T) {
	for _, enctype := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192} {
		t.Run(enctypeName(enctype), func(t *testing.T) {
			ini, acc := sealerPair(t, enctype)
			for i, plain := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0xfe}, 17), bytes.Repeat([]byte("ab"), 40000)} {
				sig, data, err := ini.wrap(plain)
				if err != nil {
					t.Fatal(err)
				}
				got, err := acc.unwrap(sig, data)
				if err != nil {
					t.Fatalf("message %d to acceptor: %v", i, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("message %d to acceptor: plaintext mismatch", i)
				}
				sig, data, err = acc.wrap(plain)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = ini.unwrap(sig, data); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("message %d to initiator: %v", i, err)
				}
			}
		})
	}
}

// wrapWith builds a sealed token with arbitrary EC, RRC and rotation, as
// other implementations might send it.
func wrapWith(t *testing.T, s *sealer, plain []byte, ec, rrc, rotate int, seq uint64) []byte {
	t.Helper()
	hdr := make([]byte, 16)
	copy(hdr, []byte{0x05, 0x04, s.ourFlags(), 0xff})
	binary.BigEndian.PutUint16(hdr[4:], uint16(ec))
	binary.BigEndian.PutUint64(hdr[8:], seq)
	msg := append(append(append([]byte{}, plain...), bytes.Repeat([]byte{0xff}, ec)...), hdr...)
	usage := uint32(keyUsageInitiatorSeal)
	if s.acceptor {
		usage = keyUsageAcceptorSeal
	}
	_, ct, err := s.et.EncryptMessage(s.key.KeyValue, msg, usage)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(hdr[6:], uint16(rrc))
	r := rotate % len(ct)
	rotated := append(append([]byte{}, ct[len(ct)-r:]...), ct[:len(ct)-r]...)
	return append(hdr, rotated...)
}

func TestUnwrapAcceptsOtherConventions(t *testing.T) {
	plain := []byte("hello from a DCE-style peer")
	tests := []struct {
		name            string
		ec, rrc, rotate int
	}{
		{"RRC 0 (plain RFC 4121)", 0, 0, 0},
		{"RRC 12", 0, 12, 12},
		{"RRC 28", 0, 28, 28},
		{"EC 16 RRC 28 rotated by 44 (Windows WrapEx)", 16, 28, 44},
		{"EC 16 RRC 28 rotated by 28 (MIT)", 16, 28, 28},
		{"EC 16 RRC 0", 16, 0, 0},
		{"RRC larger than ciphertext", 0, 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ini, acc := sealerPair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
			tok := wrapWith(t, ini, plain, tt.ec, tt.rrc, tt.rotate, ini.sendSeq)
			for _, split := range []int{16, 60, len(tok)} {
				acc.recvSeq = ini.sendSeq
				got, err := acc.unwrap(tok[:split], tok[split:])
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("split %d: got %q", split, got)
				}
			}
		})
	}
}

func TestUnwrapRejects(t *testing.T) {
	plain := []byte("<s:Envelope>payload</s:Envelope>")
	tests := []struct {
		name    string
		mutate  func(ini, acc *sealer, sig, data []byte) ([]byte, []byte)
		wantErr error
	}{
		{"flipped ciphertext bit", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			data[3] ^= 0x01
			return sig, data
		}, ErrIntegrity},
		{"flipped HMAC bit", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			sig[20] ^= 0x80
			return sig, data
		}, ErrIntegrity},
		{"clear seq changed", func(_, acc *sealer, sig, data []byte) ([]byte, []byte) {
			sig[15]++
			acc.recvSeq++
			return sig, data
		}, ErrIntegrity},
		{"reflected (acceptor's own token)", func(_, acc *sealer, _, _ []byte) ([]byte, []byte) {
			sig, data, _ := acc.wrap(plain)
			return sig, data
		}, ErrDirection},
		{"no acceptor-subkey flag", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			sig[2] &^= wrapFlagAcceptorSubkey
			return sig, data
		}, ErrDirection},
		{"integrity-only token", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			sig[2] &^= wrapFlagSealed
			return sig, data
		}, ErrMalformed},
		{"replay", func(ini, acc *sealer, sig, data []byte) ([]byte, []byte) {
			if _, err := acc.unwrap(append([]byte{}, sig...), append([]byte{}, data...)); err != nil {
				panic(err)
			}
			return sig, data
		}, ErrSequence},
		{"gap", func(ini, _ *sealer, _, _ []byte) ([]byte, []byte) {
			sig, data, _ := ini.wrap(plain)
			return sig, data
		}, ErrSequence},
		{"wrong usage (acceptor key usage)", func(ini, _ *sealer, sig, data []byte) ([]byte, []byte) {
			// Same key, but sealed with the acceptor's usage 22 under the
			// initiator's flags.
			other, err := newSealer(ini.key, true, true, ini.sendSeq-1, 0)
			if err != nil {
				panic(err)
			}
			s, d, _ := other.wrap(plain)
			copy(s[:4], sig[:4])
			return s, d
		}, ErrIntegrity},
		{"truncated", func(_, _ *sealer, sig, _ []byte) ([]byte, []byte) { return sig[:30], nil }, ErrMalformed},
		{"header only", func(_, _ *sealer, sig, _ []byte) ([]byte, []byte) { return sig[:16], nil }, ErrMalformed},
		{"short", func(_, _ *sealer, sig, _ []byte) ([]byte, []byte) { return sig[:5], nil }, ErrMalformed},
		{"RC4 token", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			sig[0], sig[1] = 0x02, 0x01
			return sig, data
		}, ErrRC4},
		{"huge EC", func(_, _ *sealer, sig, data []byte) ([]byte, []byte) {
			sig[4], sig[5] = 0xff, 0xff
			return sig, data
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ini, acc := sealerPair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
			sig, data, err := ini.wrap(plain)
			if err != nil {
				t.Fatal(err)
			}
			sig, data = tt.mutate(ini, acc, sig, data)
			if _, err := acc.unwrap(sig, data); !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewSealerRefusesNonAES(t *testing.T) {
	rc4 := types.EncryptionKey{KeyType: etypeID.RC4_HMAC, KeyValue: make([]byte, 16)}
	if _, err := newSealer(rc4, true, true, 0, 0); !errors.Is(err, ErrRC4) {
		t.Fatalf("RC4 key: %v", err)
	}
	des3 := types.EncryptionKey{KeyType: etypeID.DES3_CBC_SHA1_KD, KeyValue: make([]byte, 24)}
	if _, err := newSealer(des3, true, true, 0, 0); !errors.Is(err, ErrUnsupportedEnctype) {
		t.Fatalf("DES3 key: %v", err)
	}
	short := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: make([]byte, 16)}
	if _, err := newSealer(short, true, true, 0, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short key: %v", err)
	}
}

func FuzzUnwrap(f *testing.F) {
	ini, _ := sealerPair(f, etypeID.AES256_CTS_HMAC_SHA1_96)
	sig, data, err := ini.wrap([]byte("seed message"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig, data)
	f.Add(sig[:16], []byte{})
	f.Add([]byte{0x05, 0x04, 0x06, 0xff, 0, 0x10, 0, 0x1c, 0, 0, 0, 0, 0x0f, 0xec, 0xe2, 0xa8}, make([]byte, 60))
	f.Add([]byte{0x02, 0x01}, []byte{})
	f.Fuzz(func(t *testing.T, sig, data []byte) {
		_, acc := sealerPair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
		acc.recvSeq = 267182760
		plain, err := acc.unwrap(sig, data)
		if err == nil && len(plain) > len(sig)+len(data) {
			t.Fatalf("plaintext longer than token")
		}
	})
}

func benchmarkPair(b *testing.B) (*sealer, *sealer, []byte) {
	ini, acc := sealerPair(b, etypeID.AES256_CTS_HMAC_SHA1_96)
	return ini, acc, bytes.Repeat([]byte("<Event>0123456789</Event>"), 64<<10/25+1)[:64<<10]
}

func BenchmarkWrap(b *testing.B) {
	ini, _, plain := benchmarkPair(b)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, _, err := ini.wrap(plain); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	ini, acc, plain := benchmarkPair(b)
	sig, data, err := ini.wrap(plain)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		acc.recvSeq = ini.sendSeq - 1
		if _, err := acc.unwrap(sig, data); err != nil {
			b.Fatal(err)
		}
	}
}
