package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"wefgate/internal/ratelog"
	"wefgate/wef/soap"
)

// TestRefusalLogsRateLimited is issue 10 part 6: a client provoking
// thousands of refusals gets one line per reason and address per interval,
// the next line reports how many were held back, every refusal is counted,
// and client-controlled values (a 400 KB MachineID) are cut in the logs.
func TestRefusalLogsRateLimited(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	logs := &bytes.Buffer{}
	h, _, def, stats := newTestHandlerWith(t, &testSubscription{}, logs)
	h.cfg.Logs = ratelog.New(10*time.Second, 0, func() time.Time { return now })
	h.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))

	unknown := soap.Request{Action: soap.ActionHeartbeat, To: "x", MessageID: "uuid:1", Identifier: "00000000-0000-0000-0000-000000000000",
		MachineID: strings.Repeat("M", 400<<10), Body: []byte("<w:Events/>")}
	body := soap.EncodeUTF16LE(unknown.Build())
	for i := range 50 {
		if i == 49 {
			now = now.Add(10 * time.Second)
		}
		if rec := post(h, "/wsman/subscriptions/"+def.ID, body, nil); rec.Code != http.StatusNotFound {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if got := stats.Refused.Load(); got != 50 {
		t.Errorf("refused counter %d, want 50", got)
	}
	var refusals []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "refused request") {
			refusals = append(refusals, l)
		}
		if len(l) > 2048 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
		}
	}
	if len(refusals) != 2 || !strings.Contains(refusals[1], "suppressed=48") {
		t.Fatalf("want 2 refusal lines, the second with suppressed=48:\n%s", strings.Join(refusals, "\n"))
	}
	if n := strings.Count(logs.String(), "MachineID does not match"); n != 1 {
		t.Errorf("%d MachineID lines for 50 requests, want 1", n)
	}
	if !strings.Contains(logs.String(), "(409600 bytes)") {
		t.Errorf("the MachineID is not logged cut with its length:\n%.2000s", logs)
	}
}
