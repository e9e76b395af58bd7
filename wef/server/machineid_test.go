package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"wefgate/wef/soap"
)

func TestMachineMatchesNetBIOS(t *testing.T) {
	tests := []struct {
		identity, machine string
		want              bool
	}{
		// Active Directory cuts a computer's sAMAccountName to the 15
		// characters of its NetBIOS name.
		{"FINANCE-WKS-LON$@EXAMPLE.TEST", "finance-wks-london-07.example.test", true},
		{"FINANCE-WKS-LON$@EXAMPLE.TEST", "FINANCE-WKS-LONX.example.test", true},
		{"FINANCE-WKS-LON$@EXAMPLE.TEST", "finance-wks-lon.example.test", true},
		{"FINANCE-WKS-LON$@EXAMPLE.TEST", "finance-wks-lo.example.test", false},
		{"FINANCE-WKS-LON$@EXAMPLE.TEST", "finance-wks-paris-07.example.test", false},
		// A name shorter than 15 characters is never a truncation.
		{"FINANCE-WKS$@EXAMPLE.TEST", "finance-wks-london-07.example.test", false},
		{"finance-wks-lon.example.test", "finance-wks-london-07.example.test", false},
	}
	for _, tt := range tests {
		if got := machineMatches(tt.identity, tt.machine); got != tt.want {
			t.Errorf("machineMatches(%q, %q) = %v, want %v", tt.identity, tt.machine, got, tt.want)
		}
	}
}

// asPrincipal authenticates every request as one Kerberos principal, each
// request on a connection of its own.
type asPrincipal struct{ trusting }

func (asPrincipal) Authenticate(http.ResponseWriter, *http.Request, *Conn) (Peer, bool) {
	return Peer{Identity: "FINANCE-WKS-LON$@EXAMPLE.TEST", Auth: soap.Auth{Profile: soap.ProfileKerberos}}, false
}

// TestMachineIDWarnedOncePerChange sends Enumerates from one Kerberos host,
// each on a new connection, with the MachineIDs in order: a NetBIOS
// truncation of the principal is no mismatch, and a real mismatch is
// logged once per host and change, not per connection.
func TestMachineIDWarnedOncePerChange(t *testing.T) {
	var logs bytes.Buffer
	h, _, _, _ := newTestHandlerWith(t, &testSubscription{}, &logs)
	h.security = asPrincipal{}
	const own = "finance-wks-london-07.example.test"
	for i, tc := range []struct {
		machineID string
		warn      bool
	}{
		{own, false}, {own, false}, {own, false},
		{"other.example.test", true}, {"other.example.test", false}, {"OTHER.example.test", false},
		{"third.example.test", true}, {"third.example.test", false},
		{own, false},
		{"third.example.test", true},
	} {
		before := strings.Count(logs.String(), "MachineID does not match")
		req := soap.Request{Action: soap.ActionEnumerate, To: "x", MessageID: soap.NewMessageID(), MachineID: tc.machineID, Body: []byte(soap.EnumerateBody)}
		rec := post(h, "/wsman/SubscriptionManager/WEC", soap.EncodeUTF16LE(req.Build()), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d %s", i, rec.Code, rec.Body)
		}
		after := strings.Count(logs.String(), "MachineID does not match")
		if warned := after > before; warned != tc.warn {
			t.Errorf("request %d (MachineID %s): warned %v, want %v\n%s", i, tc.machineID, warned, tc.warn, logs.String())
		}
	}
}
