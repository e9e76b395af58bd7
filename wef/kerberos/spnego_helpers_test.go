package kerberos

import (
	"testing"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// spnegoNTLMInit wraps an NTLM token in an SPNEGO NegTokenInit offering
// only NTLM, as Windows does when it could not get a Kerberos ticket.
func spnegoNTLMInit(t testing.TB, ntlm []byte) []byte {
	t.Helper()
	init := spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{asn1OIDNTLM}, MechTokenBytes: ntlm}
	inner, err := init.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return frameInitialContextToken(oidSPNEGO, inner)
}
