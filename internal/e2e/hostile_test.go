package e2e

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/wef/forwarder"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// TestAmplificationRefused is issue 10 part 2 against the running gateway:
// an SLDC request of a few hundred KB carrying 300,000 empty w:Event
// elements is refused with a wsman:EncodingLimit fault and exports
// nothing; a batch within the limits with 1,000 empty elements exports its
// one real event, and its damage is one log line.
func TestAmplificationRefused(t *testing.T) {
	f := newHTTPSFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := f.host(t, "host1.example.test", forwarder.NewStaticLog(nil))
	subs, err := h.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := handleSub(t, subs)
	cc := f.hosts["host1.example.test"]
	tlsCfg, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{f.pki.Path(certs.RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	client := &forwarder.Client{Security: forwarder.TLSSecurity{Config: tlsCfg}, Compress: sldc.Compress}
	u, err := url.Parse(sub.Address)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(events string) []byte {
		r := soap.Request{Action: soap.ActionEvents, To: sub.Address, MessageID: soap.NewMessageID(), MachineID: cc.FQDN,
			Identifier: sub.ID, Version: sub.Version, Bookmark: `<BookmarkList><Bookmark Channel="Security" RecordId="7" IsCurrent="true"/></BookmarkList>`,
			AckRequested: true, Body: []byte(`<w:Events>` + events + `</w:Events>`)}
		return r.Build()
	}

	flood := batch(strings.Repeat(`<w:Event/>`, 300_000))
	compressed := sldc.Compress(soap.EncodeUTF16LE(flood))
	t.Logf("flood: %d w:Event elements, %d bytes compressed", 300_000, len(compressed))
	if _, err := client.SendEncoded(ctx, u, compressed, true); !forwarder.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("flood: %v, want 400", err)
	}
	if !f.gw.logs.contains("refused request", "host=host1.example.test", "MaxEnvelopeSize") &&
		!f.gw.logs.contains("refused request", "host=host1.example.test", "decompresses beyond") {
		t.Error("no refusal line names the host and the envelope limit")
	}

	real := `<w:Event Action="` + soap.ActionEvent + `"><![CDATA[` +
		testEvent(4658, 7, "host1.example.test", map[string]string{"HandleId": "0x1", "ProcessId": "0x4", "ProcessName": `C:\a.exe`}) + `]]></w:Event>`
	if _, err := client.Send(ctx, u, batch(strings.Repeat(`<w:Event/>`, 1000)+real), true); err != nil {
		t.Fatalf("batch within limits: %v", err)
	}
	recs := waitOutput(t, filepath.Join(f.dir, "events.jsonl"), 1)
	if len(recs) != 1 {
		t.Fatalf("%d records exported, want the one real event", len(recs))
	}
	if !f.gw.logs.contains("damaged or empty events in batch", "host=host1.example.test", "empty=1000") {
		t.Error("no summary line for the batch's empty elements")
	}
}
