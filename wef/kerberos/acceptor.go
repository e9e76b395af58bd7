// Package kerberos authenticates Windows Event Forwarding clients with
// Kerberos over HTTP (MS-WSMV) and seals their messages: a GSS-API krb5
// acceptor for the "Kerberos" and "Negotiate" HTTP schemes that answers
// with an AP-REP carrying an acceptor subkey, RFC 4121 CFX sealed wrap
// tokens in the split form WinRM uses, and an initiator that behaves like a
// Windows forwarder for tests and simulators.
//
// It builds on gokrb5 for keytabs, ticket crypto and ASN.1 types; gokrb5
// types do not appear in the API.
package kerberos

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"wefgate/internal/ratelog"
)

// HTTP authentication schemes.
const (
	SchemeKerberos  = "Kerberos"
	SchemeNegotiate = "Negotiate"
)

// Defaults for acceptor options.
const (
	DefaultClockSkew           = 5 * time.Minute
	DefaultReplayCacheSize     = 100000
	DefaultKeytabCheckInterval = 5 * time.Second
)

// Acceptor verifies client tokens against a service keytab. It is safe for
// concurrent use; each successful Accept returns an independent Context.
type Acceptor struct {
	keytab    *keytabFile
	logger    *slog.Logger
	refusals  *ratelog.Limiter
	clockSkew time.Duration
	now       func() time.Time
	replay    *replayCache
}

type acceptorConfig struct {
	clockSkew   time.Duration
	replaySize  int
	keytabCheck time.Duration
	now         func() time.Time
	refusals    *ratelog.Limiter
}

// AcceptorOption changes an Acceptor default.
type AcceptorOption func(*acceptorConfig)

// WithReplayCacheSize bounds the number of remembered authenticators.
func WithReplayCacheSize(n int) AcceptorOption {
	return func(c *acceptorConfig) { c.replaySize = n }
}

// WithKeytabCheckInterval sets how often the keytab file is checked for
// changes (default 5 s).
func WithKeytabCheckInterval(d time.Duration) AcceptorOption {
	return func(c *acceptorConfig) { c.keytabCheck = d }
}

// WithRefusalLog rate-limits the refusal lines per reason and client
// address (nil: one line per refusal).
func WithRefusalLog(l *ratelog.Limiter) AcceptorOption {
	return func(c *acceptorConfig) { c.refusals = l }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) AcceptorOption {
	return func(c *acceptorConfig) { c.now = now }
}

// NewAcceptor loads the keytab at keytabPath. Any key in it may decrypt a
// ticket, whatever its service name (HTTP/, HOST/, spelling): in AD all SPNs
// of an account share its keys. A nil logger discards logs.
func NewAcceptor(keytabPath string, logger *slog.Logger, opts ...AcceptorOption) (*Acceptor, error) {
	cfg := acceptorConfig{
		clockSkew:   DefaultClockSkew,
		replaySize:  DefaultReplayCacheSize,
		keytabCheck: DefaultKeytabCheckInterval,
		now:         time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.replaySize < 1 {
		cfg.replaySize = 1
	}
	kt, err := loadKeytabFile(keytabPath, cfg.keytabCheck, cfg.now, logger)
	if err != nil {
		return nil, err
	}
	a := &Acceptor{
		keytab:    kt,
		logger:    logger,
		refusals:  cfg.refusals,
		clockSkew: cfg.clockSkew,
		now:       cfg.now,
		// An authenticator is acceptable while its ctime is within the skew
		// of our clock, so it must be remembered for twice the skew.
		replay: newReplayCache(2*cfg.clockSkew, cfg.replaySize),
	}
	for _, e := range kt.entries {
		if requireAES(e.key.KeyType, "key") != nil {
			continue
		}
		return a, nil
	}
	logger.Warn("keytab holds no AES keys; every client will be refused", "keytab", keytabPath)
	return a, nil
}

// Context is an established security context with one client, i.e. one
// TCP connection. Its Wrap and Unwrap are not safe for concurrent use: the
// caller serialises the messages of a connection, as the sequence numbers
// require anyway.
type Context struct {
	// Principal is the authenticated client, e.g. "WIN10$@CORP.EXAMPLE".
	Principal string
	// Scheme is SchemeKerberos or SchemeNegotiate.
	Scheme string
	// Expiry is the ticket's end time; re-authenticate after it.
	Expiry time.Time
	// Service is the keytab principal whose key accepted the ticket (the
	// ticket's own service name is clear text and proves nothing).
	Service string
	// Flags are the GSS flags the client requested (FlagMutual, ...).
	Flags uint32
	// ChannelBinding is the 16-byte channel-binding hash the client sent
	// (all zero when it sent none).
	ChannelBinding [16]byte

	sealer *sealer
}

// Unwrap verifies and decrypts a client message given as the signature
// part (60 bytes for AES) and the encrypted data. Messages must arrive in
// order; a replayed or skipped message is refused.
func (c *Context) Unwrap(sig, data []byte) ([]byte, error) { return c.sealer.unwrap(sig, data) }

// Wrap seals a message for the client and returns it split as Windows
// does: sig (60 bytes for AES: header and rotated trailer) and data,
// exactly len(plain) bytes.
func (c *Context) Wrap(plain []byte) (sig, data []byte, err error) { return c.sealer.wrap(plain) }

// Accept verifies the client's first token for scheme ("Kerberos": a raw
// KRB5 GSS token, "Negotiate": SPNEGO) and returns the context and the
// token for the WWW-Authenticate response header. remote names the client
// in log lines. Refusals are logged at warn level and returned as errors
// that wrap one of the package's Err values.
func (a *Acceptor) Accept(scheme string, token []byte, remote string) (*Context, []byte, error) {
	ctx, resp, err := a.accept(scheme, token)
	if err != nil {
		// One client can send thousands of tokens a second: one line per
		// reason and address per interval, the rest counted.
		a.refusals.Log(a.logger, slog.LevelWarn, "kerberos authentication refused", refusalReason(err), remoteHost(remote),
			"remote", remote, "scheme", ratelog.Clip(scheme), "error", ratelog.Clip(err.Error()))
		return nil, nil, err
	}
	a.logger.Debug("kerberos context established", "remote", remote, "scheme", ctx.Scheme,
		"principal", ctx.Principal, "service", ctx.Service, "expiry", ctx.Expiry)
	return ctx, resp, nil
}

// refusalReason names the kind of a refusal: the package error it wraps.
func refusalReason(err error) string {
	for _, e := range []error{ErrNTLM, ErrRC4, ErrMalformed, ErrUnsupportedScheme, ErrUnsupportedMech, ErrUnsupportedEnctype,
		ErrNoKey, ErrWrongKVNO, ErrWrongService, ErrIntegrity, ErrReplay, ErrClockSkew, ErrTicketTime, ErrFlags, ErrRejected} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

// remoteHost is the address of host:port, the unit refusals are limited by.
func remoteHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func (a *Acceptor) accept(scheme string, token []byte) (ctx *Context, resp []byte, err error) {
	defer guard("client token", &err)
	switch {
	case strings.EqualFold(scheme, SchemeKerberos):
		scheme = SchemeKerberos
	case strings.EqualFold(scheme, SchemeNegotiate):
		scheme = SchemeNegotiate
	default:
		return nil, nil, fmt.Errorf("%w: %q", ErrUnsupportedScheme, scheme)
	}
	if len(token) == 0 {
		return nil, nil, malformed("empty token")
	}
	if isNTLM(token) {
		return nil, nil, ErrNTLM
	}

	oid, _, err := splitInitialContextToken(token)
	if err != nil {
		return nil, nil, err
	}
	if scheme == SchemeNegotiate && bytes.Equal(oid, oidSPNEGO) {
		return a.acceptSPNEGO(token)
	}
	if !isKRB5OID(oid) {
		return nil, nil, fmt.Errorf("%w: %s token with mechanism %s", ErrUnsupportedMech, scheme, describeOID(oid))
	}
	// Negotiate with a bare KRB5 token is answered with a bare AP-REP.
	kt, err := parseKRB5Token(token)
	if err != nil {
		return nil, nil, err
	}
	ctx, apRep, err := a.acceptKRB5(kt)
	if err != nil {
		return nil, nil, err
	}
	ctx.Scheme = scheme
	return ctx, apRep, nil
}

func (a *Acceptor) acceptSPNEGO(token []byte) (*Context, []byte, error) {
	_, inner, err := splitInitialContextToken(token)
	if err != nil {
		return nil, nil, err
	}
	var init spnego.NegTokenInit
	if err := init.Unmarshal(inner); err != nil {
		return nil, nil, malformed("SPNEGO NegTokenInit: %v", err)
	}
	var supported asn1.ObjectIdentifier
	for _, m := range init.MechTypes {
		if m.Equal(asn1OIDKRB5) || m.Equal(asn1OIDMSKRB5) {
			supported = m
			break
		}
	}
	if isNTLM(init.MechTokenBytes) || (supported == nil && len(init.MechTypes) > 0 && init.MechTypes[0].Equal(asn1OIDNTLM)) {
		return nil, nil, ErrNTLM
	}
	if supported == nil {
		return nil, nil, fmt.Errorf("%w: SPNEGO offers no Kerberos mechanism (%v)", ErrUnsupportedMech, init.MechTypes)
	}
	if len(init.MechTokenBytes) == 0 {
		return nil, nil, fmt.Errorf("%w: SPNEGO without an optimistic Kerberos token", ErrUnsupportedMech)
	}
	kt, err := parseKRB5Token(init.MechTokenBytes)
	if err != nil {
		return nil, nil, err
	}
	ctx, apRep, err := a.acceptKRB5(kt)
	if err != nil {
		return nil, nil, err
	}
	ctx.Scheme = SchemeNegotiate
	resp := spnego.NegTokenResp{
		NegState:      asn1.Enumerated(spnego.NegStateAcceptCompleted),
		SupportedMech: supported,
		ResponseToken: apRep,
	}
	out, err := resp.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("marshal SPNEGO response: %w", err)
	}
	return ctx, out, nil
}

// acceptKRB5 verifies an AP-REQ and builds the AP-REP token.
func (a *Acceptor) acceptKRB5(tok krb5Token) (*Context, []byte, error) {
	if tok.tokID != tokIDAPReq {
		return nil, nil, malformed("KRB5 token id %04x, want AP-REQ 0100", uint16(tok.tokID))
	}
	var apReq messages.APReq
	if err := apReq.Unmarshal(tok.message); err != nil {
		return nil, nil, malformed("AP-REQ: %v", err)
	}
	ticket := &apReq.Ticket
	if len(ticket.SName.NameString) == 0 {
		return nil, nil, malformed("ticket without service name")
	}
	service := ticket.SName.PrincipalNameString() + "@" + ticket.Realm
	if err := requireAES(ticket.EncPart.EType, "ticket for "+service); err != nil {
		return nil, nil, err
	}
	service, err := a.decryptTicket(ticket, service)
	if err != nil {
		return nil, nil, err
	}
	enc := &ticket.DecryptedEncPart
	client := enc.CName.PrincipalNameString() + "@" + enc.CRealm
	now := a.now().UTC()
	if types.IsFlagSet(&enc.Flags, flags.Invalid) || (!enc.StartTime.IsZero() && enc.StartTime.Sub(now) > a.clockSkew) {
		return nil, nil, fmt.Errorf("%w: ticket of %s for %s not valid before %s", ErrTicketTime, client, service, enc.StartTime)
	}
	if now.Sub(enc.EndTime) > a.clockSkew {
		return nil, nil, fmt.Errorf("%w: ticket of %s for %s expired at %s", ErrTicketTime, client, service, enc.EndTime)
	}
	if err := requireAES(enc.Key.KeyType, "session key of "+client); err != nil {
		return nil, nil, err
	}

	plain, err := crypto.DecryptEncPart(apReq.EncryptedAuthenticator, enc.Key, keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: authenticator of %s does not decrypt with the ticket session key", ErrIntegrity, client)
	}
	auth := &apReq.Authenticator
	if err := auth.Unmarshal(plain); err != nil {
		return nil, nil, malformed("authenticator of %s: %v", client, err)
	}
	if !auth.CName.Equal(enc.CName) || auth.CRealm != enc.CRealm {
		return nil, nil, fmt.Errorf("%w: authenticator names %s@%s, ticket names %s", ErrIntegrity,
			auth.CName.PrincipalNameString(), auth.CRealm, client)
	}
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ctime); d > a.clockSkew || -d > a.clockSkew {
		return nil, nil, fmt.Errorf("%w: %s is %s off", ErrClockSkew, client, d.Round(time.Second))
	}

	if auth.Cksum.CksumType != gssChecksumType {
		return nil, nil, fmt.Errorf("%w: authenticator of %s has checksum type %#x, not a GSS checksum", ErrFlags, client, auth.Cksum.CksumType)
	}
	cksum, err := parseGSSChecksum(auth.Cksum.Checksum)
	if err != nil {
		return nil, nil, err
	}
	if cksum.flags&requiredFlags != requiredFlags {
		return nil, nil, fmt.Errorf("%w: %s requested flags %#x, need mutual|conf|integ (%#x)", ErrFlags, client, cksum.flags, requiredFlags)
	}

	initiatorKey := auth.SubKey
	if len(initiatorKey.KeyValue) == 0 {
		initiatorKey = enc.Key
	}
	if err := requireAES(initiatorKey.KeyType, "subkey of "+client); err != nil {
		return nil, nil, err
	}

	// Replay is checked last so that unauthenticated garbage cannot fill
	// the cache.
	if a.replay.check(replayKey(client, apReq.EncryptedAuthenticator.Cipher), now) {
		return nil, nil, fmt.Errorf("%w from %s for %s", ErrReplay, client, service)
	}

	acceptorSubkey, err := randomKey(initiatorKey.KeyType)
	if err != nil {
		return nil, nil, err
	}
	ourSeq, err := randomSeq()
	if err != nil {
		return nil, nil, err
	}
	apRep, err := buildAPRep(enc.Key, auth, acceptorSubkey, ourSeq)
	if err != nil {
		return nil, nil, err
	}
	s, err := newSealer(acceptorSubkey, true, true, uint64(ourSeq), uint64(uint32(auth.SeqNumber)))
	if err != nil {
		return nil, nil, err
	}
	ctx := &Context{
		Principal:      client,
		Expiry:         enc.EndTime,
		Service:        service,
		Flags:          cksum.flags,
		ChannelBinding: cksum.binding,
		sealer:         s,
	}
	return ctx, krb5Token{oid: tok.oid, tokID: tokIDAPRep, message: apRep}.marshal(), nil
}

// decryptTicket tries every keytab key of the ticket's enctype, preferring
// those with the ticket's kvno; the service name is not used to pick keys.
// decryptTicket decrypts the ticket with a keytab key and returns the
// keytab principal whose key did it. That name, unlike the ticket's own
// clear-text sname, is authenticated; entries named like the sname are
// tried first so that an account holding HTTP/ and HOST/ under one key is
// reported by the name the client asked for.
func (a *Acceptor) decryptTicket(ticket *messages.Ticket, service string) (string, error) {
	etype, kvno := ticket.EncPart.EType, uint32(ticket.EncPart.KVNO)
	entries := a.keytab.current()
	var sameType, sameKVNO, other []keyEntry
	for _, e := range entries {
		if e.key.KeyType != etype {
			continue
		}
		sameType = append(sameType, e)
		if e.kvno == kvno || (e.kvno < 256 && e.kvno == kvno&0xff) {
			sameKVNO = append(sameKVNO, e)
		} else {
			other = append(other, e)
		}
	}
	named := func(list []keyEntry) []keyEntry {
		slices.SortStableFunc(list, func(x, y keyEntry) int {
			return boolRank(!strings.EqualFold(x.principal, service)) - boolRank(!strings.EqualFold(y.principal, service))
		})
		return list
	}
	sameKVNO, other = named(sameKVNO), named(other)
	if len(sameType) == 0 {
		return "", fmt.Errorf("%w: ticket for %s is %s kvno %d; keytab has %s", ErrNoKey, service, enctypeName(etype), kvno, describeEntries(entries))
	}
	for _, e := range sameKVNO {
		if ticket.Decrypt(e.key) == nil {
			return e.principal, nil
		}
	}
	// A keytab written with a wrong kvno label but the right key (a
	// ktpass pitfall) still works; say so, since the label should be fixed.
	for _, e := range other {
		if ticket.Decrypt(e.key) == nil {
			a.logger.Warn("ticket decrypted with a keytab key of another kvno; fix the keytab's kvno",
				"service", service, "ticket_kvno", kvno, "keytab_principal", e.principal, "keytab_kvno", e.kvno)
			return e.principal, nil
		}
	}
	if len(sameKVNO) == 0 {
		return "", fmt.Errorf("%w: ticket for %s is %s kvno %d; keytab has %s", ErrWrongKVNO, service, enctypeName(etype), kvno, describeEntries(entries))
	}
	inKeytab := false
	for _, e := range entries {
		if strings.EqualFold(e.principal, service) {
			inKeytab = true
		}
	}
	if !inKeytab {
		return "", fmt.Errorf("%w: ticket for %s (%s kvno %d); keytab has %s", ErrWrongService, service, enctypeName(etype), kvno, describeEntries(entries))
	}
	return "", fmt.Errorf("%w: ticket for %s (%s kvno %d) does not decrypt with the keytab key of that name (wrong key or tampered ticket)",
		ErrIntegrity, service, enctypeName(etype), kvno)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func describeEntries(entries []keyEntry) string {
	var parts []string
	seen := map[string]bool{}
	for _, e := range entries {
		d := fmt.Sprintf("%s %s kvno %d", e.principal, enctypeName(e.key.KeyType), e.kvno)
		if !seen[d] {
			seen[d] = true
			parts = append(parts, d)
		}
	}
	if len(parts) == 0 {
		return "no keys"
	}
	return strings.Join(parts, ", ")
}

// replayKey identifies an authenticator by its client and ciphertext only:
// the ticket's service name travels in clear text, so keying on it would
// let a replayer make a captured token look new by rewriting it.
func replayKey(client string, cipher []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(client))
	h.Write([]byte{0})
	h.Write(cipher)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func randomKey(enctype int32) (types.EncryptionKey, error) {
	if keySize(enctype) == 0 {
		return types.EncryptionKey{}, fmt.Errorf("%w: cannot generate a %s key", ErrUnsupportedEnctype, enctypeName(enctype))
	}
	return randomKeyOfSize(enctype)
}

// randomKeyOfSize also makes keys of non-AES types, for tests of refusals.
func randomKeyOfSize(enctype int32) (types.EncryptionKey, error) {
	size := keySize(enctype)
	if size == 0 {
		size = 16
	}
	k := make([]byte, size)
	if _, err := rand.Read(k); err != nil {
		return types.EncryptionKey{}, fmt.Errorf("generate subkey: %w", err)
	}
	return types.EncryptionKey{KeyType: enctype, KeyValue: k}, nil
}

// randomSeq returns a non-zero 30-bit sequence number, as MIT does, so
// that peers reading it as a signed 32-bit value agree.
func randomSeq() (uint32, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("generate sequence number: %w", err)
		}
		if s := binary.BigEndian.Uint32(b[:]) & 0x3fffffff; s != 0 {
			return s, nil
		}
	}
}

// buildAPRep encodes KRB-AP-REP (RFC 4120 §5.5.2) whose EncAPRepPart,
// sealed with the ticket session key, carries the acceptor subkey and our
// initial sequence number.
func buildAPRep(sessionKey types.EncryptionKey, auth *types.Authenticator, subkey types.EncryptionKey, seq uint32) ([]byte, error) {
	part := messages.EncAPRepPart{
		CTime:          auth.CTime.UTC().Truncate(time.Second),
		Cusec:          auth.Cusec,
		Subkey:         subkey,
		SequenceNumber: int64(seq),
	}
	pb, err := asn1.Marshal(part)
	if err != nil {
		return nil, fmt.Errorf("marshal EncAPRepPart: %w", err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(pb, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypt EncAPRepPart: %w", err)
	}
	rb, err := asn1.Marshal(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		return nil, fmt.Errorf("marshal AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(rb, asnAppTag.APREP), nil
}
