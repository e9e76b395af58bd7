package kerberos

import (
	"errors"
	"fmt"
)

// Errors returned by Accept, Complete, Wrap and Unwrap. They are wrapped
// with details (principals, enctypes, kvnos), so test with errors.Is.
var (
	// ErrMalformed: the token could not be parsed.
	ErrMalformed = errors.New("malformed token")
	// ErrUnsupportedScheme: the HTTP scheme is neither Kerberos nor Negotiate.
	ErrUnsupportedScheme = errors.New("unsupported authentication scheme")
	// ErrUnsupportedMech: an SPNEGO token offered no Kerberos mechanism or
	// no optimistic Kerberos token.
	ErrUnsupportedMech = errors.New("unsupported GSS mechanism")
	// ErrNTLM: the client sent NTLM, which a Linux collector cannot verify.
	ErrNTLM = errors.New("client fell back to NTLM: check the SPN / DNS name in the GPO (the client could not get a Kerberos ticket for the collector)")
	// ErrRC4: the ticket or session uses RC4-HMAC, which cannot seal WinRM
	// messages.
	ErrRC4 = errors.New("RC4 (arcfour-hmac) Kerberos refused: enable AES on the collector's service account " +
		"(msDS-SupportedEncryptionTypes = 0x18 for AES128+AES256), then re-export the keytab with AES keys")
	// ErrUnsupportedEnctype: an enctype other than AES.
	ErrUnsupportedEnctype = errors.New("unsupported encryption type")
	// ErrNoKey: the keytab has no key of the ticket's enctype.
	ErrNoKey = errors.New("no keytab key for the ticket's encryption type")
	// ErrWrongKVNO: the keytab has keys of the right enctype, but not the
	// ticket's key version; the keytab is stale.
	ErrWrongKVNO = errors.New("ticket key version not in keytab (stale keytab: the service account password changed?)")
	// ErrWrongService: no keytab key decrypts the ticket; it was issued for
	// another service principal.
	ErrWrongService = errors.New("ticket is for a service principal whose key is not in the keytab")
	// ErrIntegrity: a checksum or decryption failed; the token was altered
	// or encrypted with another key.
	ErrIntegrity = errors.New("integrity check failed (tampered token or wrong key)")
	// ErrReplay: the authenticator was seen before.
	ErrReplay = errors.New("replayed authenticator")
	// ErrClockSkew: the authenticator's time is too far from ours.
	ErrClockSkew = errors.New("clock skew too large (sync the client and collector clocks with the domain)")
	// ErrTicketTime: the ticket is expired or not yet valid.
	ErrTicketTime = errors.New("ticket expired or not yet valid")
	// ErrFlags: the GSS checksum lacks the confidentiality, integrity or
	// mutual-authentication flag that WinRM message encryption needs.
	ErrFlags = errors.New("required GSS flags missing")
	// ErrSequence: a per-message token arrived out of order or twice.
	ErrSequence = errors.New("wrap token sequence number out of order")
	// ErrDirection: a per-message token carries our own direction flag
	// (a reflected message) or the wrong key flag.
	ErrDirection = errors.New("wrap token from the wrong direction")
	// ErrRejected: the peer answered with a Kerberos error or refused the
	// negotiation.
	ErrRejected = errors.New("rejected by peer")
)

// malformed wraps ErrMalformed with a description.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// guard turns a panic inside gokrb5 (which slices untrusted input without
// length checks in places) into ErrMalformed.
func guard(what string, err *error) {
	if r := recover(); r != nil {
		*err = malformed("%s: parser panic: %v", what, r)
	}
}
