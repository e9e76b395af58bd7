package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"wefgate/internal/testkdc"
	"wefgate/wef/forwarder"
	"wefgate/wef/kerberos"
)

// TestKerberosRepliesMirrorFraming runs the Kerberos listener's security
// against a throw-away MIT KDC and two clients: one framing its sealed
// messages as Windows does, one with TABs as Debian's pywinrm 0.3.0 does.
// Each reads only replies framed as its requests were (that pywinrm finds
// no data otherwise), so each must enumerate and have a batch
// acknowledged.
func TestKerberosRepliesMirrorFraming(t *testing.T) {
	kdc := testkdc.Start(t, "CORP.EXAMPLE")
	acc, err := kerberos.NewAcceptor(kdc.ServiceKeytab(t, "localhost"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, sink, _, _ := newTestHandlerWith(t, &testSubscription{}, io.Discard)
	h.security = &KerberosSecurity{Acceptor: acc, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = withConn
	srv.Start()
	defer srv.Close()
	base := fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)
	h.baseURL = base

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, tc := range []struct {
		name string
		tabs bool
	}{{"Windows framing", false}, {"pywinrm 0.3.0 framing", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ini, err := kerberos.NewInitiatorWithKeytab(kdc.Krb5Conf(), kdc.Principal("WIN10$"), kdc.ClientKeytab(t, "WIN10$"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ini.Close()
			before := sink.events
			host := forwarder.NewHost(forwarder.HostConfig{
				MachineID: "win10.corp.example", ManagerURL: base + "/wsman/SubscriptionManager/WEC",
				Client:          &forwarder.Client{Security: forwarder.KerberosSecurity{Initiator: ini, TabFramed: tc.tabs}},
				Log:             forwarder.NewStaticLog([]string{fmt.Sprintf(`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4658</EventID><EventRecordID>%d</EventRecordID><Channel>Security</Channel><Computer>win10.corp.example</Computer></System></Event>`, 100+i)}),
				StopWhenDrained: true, MaxRetryWait: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
			})
			if _, err := host.Enumerate(ctx); err != nil {
				t.Fatalf("enumerate: %v", err)
			}
			if err := host.Run(ctx); err != nil {
				t.Fatalf("deliver: %v", err)
			}
			if sink.events != before+1 {
				t.Errorf("%d events handed on, want 1", sink.events-before)
			}
		})
	}
}
