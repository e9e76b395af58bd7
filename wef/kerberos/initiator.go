package kerberos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Initiator is a Kerberos client that authenticates the way a Windows WEF
// forwarder does: AP-REQ with an AES subkey, GSS flags 0x3E and mutual
// authentication required. It is safe for concurrent use.
type Initiator struct {
	logger *slog.Logger

	mu       sync.Mutex // serialises gokrb5 client use
	client   *client.Client
	loggedIn bool
	closed   bool
}

// NewInitiatorWithKeytab creates an initiator for principal ("WIN10$" or
// "WIN10$@EXAMPLE.TEST"; the realm defaults to krb5.conf's default_realm)
// using the principal's key from a keytab.
func NewInitiatorWithKeytab(krb5ConfPath, principal, keytabPath string, logger *slog.Logger) (*Initiator, error) {
	cfg, name, realm, err := initiatorConfig(krb5ConfPath, principal)
	if err != nil {
		return nil, err
	}
	kt, err := keytab.Load(keytabPath)
	if err != nil {
		return nil, fmt.Errorf("load client keytab %s: %w", keytabPath, err)
	}
	return newInitiator(client.NewWithKeytab(name, realm, kt, cfg, client.DisablePAFXFAST(true)), logger), nil
}

// NewInitiatorWithPassword creates an initiator for principal that logs in
// with a password.
func NewInitiatorWithPassword(krb5ConfPath, principal, password string, logger *slog.Logger) (*Initiator, error) {
	cfg, name, realm, err := initiatorConfig(krb5ConfPath, principal)
	if err != nil {
		return nil, err
	}
	return newInitiator(client.NewWithPassword(name, realm, password, cfg, client.DisablePAFXFAST(true)), logger), nil
}

func newInitiator(cl *client.Client, logger *slog.Logger) *Initiator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Initiator{client: cl, logger: logger}
}

func initiatorConfig(path, principal string) (cfg *config.Config, name, realm string, err error) {
	cfg, err = config.Load(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("load krb5.conf %s: %w", path, err)
	}
	name, realm = principal, cfg.LibDefaults.DefaultRealm
	if i := strings.LastIndexByte(principal, '@'); i >= 0 {
		name, realm = principal[:i], principal[i+1:]
	}
	if name == "" || realm == "" {
		return nil, "", "", fmt.Errorf("client principal %q: need name and realm (no default_realm in %s)", principal, path)
	}
	return cfg, name, realm, nil
}

// Close discards the initiator's tickets and stops ticket renewal. The
// initiator cannot start contexts afterwards; established ClientContexts
// keep working.
func (i *Initiator) Close() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		i.client.Destroy()
		i.closed = true
	}
}

// ClientContext is the initiator's side of a security context. Like
// Context, it is for one goroutine at a time.
type ClientContext struct {
	// Principal is our client principal.
	Principal string
	// Service is the SPN the ticket was obtained for.
	Service string
	// Scheme is SchemeKerberos or SchemeNegotiate.
	Scheme string

	sessionKey types.EncryptionKey
	subkey     types.EncryptionKey
	ctime      time.Time
	cusec      int
	seq        uint32
	sealer     *sealer
}

// Start obtains a service ticket for spn (e.g. "HTTP/wec.example.test") and
// returns the token for "Authorization: <scheme> <base64>", where scheme
// is SchemeKerberos or SchemeNegotiate. The context is usable after
// Complete has verified the server's answer.
func (i *Initiator) Start(ctx context.Context, spn, scheme string) ([]byte, *ClientContext, error) {
	switch {
	case strings.EqualFold(scheme, SchemeKerberos):
		scheme = SchemeKerberos
	case strings.EqualFold(scheme, SchemeNegotiate):
		scheme = SchemeNegotiate
	default:
		return nil, nil, fmt.Errorf("%w: %q", ErrUnsupportedScheme, scheme)
	}
	tkt, sessionKey, cname, realm, err := i.serviceTicket(ctx, spn)
	if err != nil {
		return nil, nil, err
	}
	if err := requireAES(sessionKey.KeyType, "session key for "+spn); err != nil {
		return nil, nil, err
	}

	req, err := buildAPReq(tkt, sessionKey, cname, realm, scheme, apReqOptions{flags: FlagsWindows})
	if err != nil {
		return nil, nil, err
	}
	cc := &ClientContext{
		Principal:  cname.PrincipalNameString() + "@" + realm,
		Service:    spn,
		Scheme:     scheme,
		sessionKey: sessionKey,
		subkey:     req.subkey,
		ctime:      req.ctime,
		cusec:      req.cusec,
		seq:        req.seq,
	}
	return req.token, cc, nil
}

// apReqOptions let tests build the deliberately wrong tokens a broken or
// hostile client would send; Start uses the Windows values.
type apReqOptions struct {
	flags        uint32
	subkeyType   int32 // 0: the session key's type
	noSubkey     bool
	checksumType int32 // 0: the GSS checksum 0x8003
	timeOffset   time.Duration
}

type apReqToken struct {
	token  []byte
	subkey types.EncryptionKey
	ctime  time.Time
	cusec  int
	seq    uint32
}

// buildAPReq builds the KRB5 (or SPNEGO-wrapped) initial token.
func buildAPReq(tkt messages.Ticket, sessionKey types.EncryptionKey, cname types.PrincipalName, crealm, scheme string, o apReqOptions) (apReqToken, error) {
	auth, err := types.NewAuthenticator(crealm, cname)
	if err != nil {
		return apReqToken{}, fmt.Errorf("build authenticator: %w", err)
	}
	if o.timeOffset != 0 {
		auth.CTime = auth.CTime.Add(o.timeOffset)
	}
	// Windows sends an AES subkey of the session key's type, which makes
	// the acceptor answer with an AES acceptor subkey.
	subkeyType := sessionKey.KeyType
	if o.subkeyType != 0 {
		subkeyType = o.subkeyType
	}
	var subkey types.EncryptionKey
	if !o.noSubkey {
		if subkey, err = randomKeyOfSize(subkeyType); err != nil {
			return apReqToken{}, err
		}
		auth.SubKey = subkey
	}
	seq, err := randomSeq()
	if err != nil {
		return apReqToken{}, err
	}
	auth.SeqNumber = int64(seq)
	cksumType := int32(gssChecksumType)
	if o.checksumType != 0 {
		cksumType = o.checksumType
	}
	auth.Cksum = types.Checksum{CksumType: cksumType, Checksum: gssChecksum{flags: o.flags}.marshal()}

	apReq, err := messages.NewAPReq(tkt, sessionKey, auth)
	if err != nil {
		return apReqToken{}, fmt.Errorf("build AP-REQ: %w", err)
	}
	types.SetFlag(&apReq.APOptions, flags.APOptionMutualRequired)
	apReqBytes, err := apReq.Marshal()
	if err != nil {
		return apReqToken{}, fmt.Errorf("marshal AP-REQ: %w", err)
	}
	token := krb5Token{oid: oidKRB5, tokID: tokIDAPReq, message: apReqBytes}.marshal()
	if scheme == SchemeNegotiate {
		init := spnego.NegTokenInit{
			// Windows lists the legacy Microsoft OID first.
			MechTypes:      []asn1.ObjectIdentifier{asn1OIDMSKRB5, asn1OIDKRB5},
			MechTokenBytes: token,
		}
		inner, err := init.Marshal()
		if err != nil {
			return apReqToken{}, fmt.Errorf("marshal SPNEGO NegTokenInit: %w", err)
		}
		token = frameInitialContextToken(oidSPNEGO, inner)
	}
	return apReqToken{token: token, subkey: subkey, ctime: auth.CTime, cusec: auth.Cusec, seq: seq}, nil
}

// serviceTicket logs in if needed and returns a ticket for spn with its
// session key and our client name.
func (i *Initiator) serviceTicket(ctx context.Context, spn string) (tkt messages.Ticket, key types.EncryptionKey, cname types.PrincipalName, realm string, err error) {
	if err = ctx.Err(); err != nil {
		return
	}
	// gokrb5 has no context support; the lock also keeps its client
	// single-threaded.
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		err = errors.New("kerberos initiator is closed")
		return
	}
	creds := i.client.Credentials
	if !i.loggedIn {
		if err = i.client.Login(); err != nil {
			err = fmt.Errorf("kerberos login as %s@%s: %w", creds.UserName(), creds.Domain(), err)
			return
		}
		i.loggedIn = true
	}
	if tkt, key, err = i.client.GetServiceTicket(spn); err != nil {
		err = fmt.Errorf("service ticket for %s: %w", spn, err)
		return
	}
	return tkt, key, creds.CName(), creds.Domain(), nil
}

// Complete verifies the server's WWW-Authenticate token: the AP-REP must
// decrypt with the session key and echo our authenticator time; its
// acceptor subkey and sequence number then key the context.
func (cc *ClientContext) Complete(responseToken []byte) (err error) {
	defer guard("server token", &err)
	if cc.sealer != nil {
		return fmt.Errorf("context already complete")
	}
	token := responseToken
	if cc.Scheme == SchemeNegotiate && (len(token) == 0 || token[0] != 0x60) {
		var resp spnego.NegTokenResp
		if err := resp.Unmarshal(token); err != nil {
			return malformed("SPNEGO NegTokenResp: %v", err)
		}
		if spnego.NegState(resp.NegState) != spnego.NegStateAcceptCompleted {
			return fmt.Errorf("%w: SPNEGO negState %d", ErrRejected, resp.NegState)
		}
		if !resp.SupportedMech.Equal(asn1OIDKRB5) && !resp.SupportedMech.Equal(asn1OIDMSKRB5) {
			return fmt.Errorf("%w: server chose mechanism %v", ErrUnsupportedMech, resp.SupportedMech)
		}
		token = resp.ResponseToken
	}
	tok, err := parseKRB5Token(token)
	if err != nil {
		return err
	}
	switch tok.tokID {
	case tokIDAPRep:
	case tokIDKRBError:
		var krbErr messages.KRBError
		if err := krbErr.Unmarshal(tok.message); err != nil {
			return malformed("KRB-ERROR: %v", err)
		}
		return fmt.Errorf("%w: %s", ErrRejected, krbErr.Error())
	default:
		return malformed("KRB5 token id %04x, want AP-REP 0200", uint16(tok.tokID))
	}
	var apRep messages.APRep
	if err := apRep.Unmarshal(tok.message); err != nil {
		return malformed("AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(apRep.EncPart, cc.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("%w: AP-REP does not decrypt with the session key: %v", ErrIntegrity, err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return malformed("EncAPRepPart: %v", err)
	}
	if !part.CTime.Equal(cc.ctime.Truncate(time.Second)) || part.Cusec != cc.cusec {
		return fmt.Errorf("%w: AP-REP time %s.%06d does not echo ours %s.%06d", ErrIntegrity,
			part.CTime, part.Cusec, cc.ctime.Truncate(time.Second), cc.cusec)
	}
	key, acceptorSubkey := cc.subkey, false
	if len(key.KeyValue) == 0 {
		key = cc.sessionKey
	}
	if len(part.Subkey.KeyValue) > 0 {
		key, acceptorSubkey = part.Subkey, true
	}
	s, err := newSealer(key, false, acceptorSubkey, uint64(cc.seq), uint64(uint32(part.SequenceNumber)))
	if err != nil {
		return err
	}
	cc.sealer = s
	return nil
}

// Wrap seals a message for the server (flags 0x06, EC 0, RRC 28 for AES),
// split as sig‖data like Context.Wrap.
func (cc *ClientContext) Wrap(plain []byte) (sig, data []byte, err error) {
	if cc.sealer == nil {
		return nil, nil, fmt.Errorf("wrap before Complete")
	}
	return cc.sealer.wrap(plain)
}

// Unwrap verifies and decrypts a server message (flags 0x07).
func (cc *ClientContext) Unwrap(sig, data []byte) ([]byte, error) {
	if cc.sealer == nil {
		return nil, fmt.Errorf("unwrap before Complete")
	}
	return cc.sealer.unwrap(sig, data)
}
