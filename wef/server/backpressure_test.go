package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"wefgate/wef/event"
	"wefgate/wef/sldc"
)

// refusingSink refuses every batch with err.
type refusingSink struct{ err error }

func (s refusingSink) Accept(context.Context, *Batch) error { return s.err }

// A sink that cannot take the batch now (spool full, spool writes failing)
// makes a 503 with Retry-After, and the bookmark does not move: the host
// keeps the events and sends them again.
func TestSinkBackpressureIs503WithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"spool full", fmt.Errorf("%w: spool holds 1024 of 1024 bytes", ErrBackpressure)},
		{"spool writes failing", fmt.Errorf("%w: spool: writes failing: no space left on device", ErrBackpressure)},
		{"other failure", errors.New("sink broken")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := &testSubscription{ID: "5C1D3F4E-0000-4000-8000-000000000003", Name: "handles"}
			state := &memState{bookmarks: map[string]string{}}
			h := NewHandler(&Config{
				Subscriptions: []Subscription{def}, State: state, Sink: refusingSink{tc.err},
				Keep: func(ev *event.Event) bool { return ev.EventID == 4658 }, MaxBodyBytes: 1 << 20,
				SLDC: sldc.Decompress, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}, "test", "https://wec:5986", trusting{}, &Stats{})
			resp := post(h, "/wsman/subscriptions/"+def.ID, sldcBatch(def.ID, 3), sldcHeader()).Result()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if len(state.bookmarks) != 0 || len(state.contacts) != 0 {
				t.Fatalf("refused batch stored bookmark %v / contacts %v", state.bookmarks, state.contacts)
			}
		})
	}
}
