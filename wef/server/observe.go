package server

import (
	"context"
	"net/http"
	"time"

	"wefgate/wef/soap"
)

// Observer is told about every request once it has been answered: metrics
// and the access log implement it. ObserveRequest runs on the request's
// goroutine, so it must be quick and safe for concurrent use.
type Observer interface {
	ObserveRequest(*RequestInfo)
}

// RequestInfo describes one answered request. Every string field except
// Remote, Identity and Subscription is one of a small fixed set, so it can
// be a metric label.
type RequestInfo struct {
	Listener string
	// Remote is the peer's ip:port as seen on the connection.
	Remote string
	// Identity is the authenticated host ("" when authentication failed or
	// had not happened yet).
	Identity string
	// Action is one of the Action… constants below.
	Action string
	// Subscription is the configured name of the subscription a Heartbeat
	// or Events message was for, once it was found.
	Subscription string
	Status       int
	// BytesIn is the request body as received; BytesOut the response body
	// as sent.
	BytesIn, BytesOut int64
	Duration          time.Duration
	// EventsReceived, EventsKept and EventsDamaged count the events of an
	// Events batch (kept only once the batch was accepted).
	EventsReceived, EventsKept, EventsDamaged int
	// AuthRefusal is set when the host was refused by authentication or
	// authorization: one of the Refusal… constants.
	AuthRefusal string
}

// Action values of RequestInfo: the WS-Man action, or what the request was
// when it carried none.
const (
	ActionEnumerate       = "enumerate"
	ActionHeartbeat       = "heartbeat"
	ActionEvents          = "events"
	ActionEnd             = "end"
	ActionSubscriptionEnd = "subscription_end"
	// ActionAuthenticate is an empty body: the authentication round trip
	// Windows makes on a new connection.
	ActionAuthenticate = "authenticate"
	// ActionNone is a request refused before its envelope was read.
	ActionNone = "none"
	// ActionUnsupported is an envelope with another action.
	ActionUnsupported = "unsupported"
)

// AuthRefusal values of RequestInfo.
const (
	RefusalNoTLS             = "no_tls"
	RefusalCertificate       = "certificate"
	RefusalUnsupportedScheme = "unsupported_scheme"
	RefusalMalformedToken    = "malformed_token"
	RefusalKerberos          = "kerberos"
	RefusalNoSecurityContext = "no_security_context"
	RefusalTicketExpired     = "ticket_expired"
	RefusalMessageUnwrap     = "message_unwrap"
	RefusalHostNotAllowed    = "host_not_allowed"
)

func actionName(a string) string {
	switch a {
	case soap.ActionEnumerate:
		return ActionEnumerate
	case soap.ActionHeartbeat:
		return ActionHeartbeat
	case soap.ActionEvents:
		return ActionEvents
	case soap.ActionEnd:
		return ActionEnd
	case soap.ActionSubscriptionEnd:
		return ActionSubscriptionEnd
	}
	return ActionUnsupported
}

// statusWriter remembers the status and the body size of the answer, and
// the refusal reason a Security gave, so that refusals made by a Security
// are counted with the handler's own.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
	refusal string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// refusedFor records why a Security refused the request; w is what the
// handler passed to Authenticate.
func refusedFor(w http.ResponseWriter, reason string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.refusal = reason
	}
}

type requestInfoKey struct{}

// withRequestInfo starts the RequestInfo of r; the handler's steps fill it
// in through requestInfo, and the observer gets it once r is answered.
func withRequestInfo(r *http.Request, listener, remote string) (*http.Request, *RequestInfo) {
	ri := &RequestInfo{Listener: listener, Remote: remote, Action: ActionNone}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)), ri
}

// requestInfo returns the RequestInfo of r, or a throw-away one when no
// observer is set, so that the steps need not check.
func requestInfo(r *http.Request) *RequestInfo {
	if ri, ok := r.Context().Value(requestInfoKey{}).(*RequestInfo); ok {
		return ri
	}
	return &RequestInfo{}
}

// observe completes ri from the answer and hands it to the observer.
func (h *Handler) observe(ri *RequestInfo, sw *statusWriter, start time.Time) {
	ri.Status, ri.BytesOut, ri.Duration = sw.status, sw.written, time.Since(start)
	if ri.AuthRefusal == "" {
		ri.AuthRefusal = sw.refusal
	}
	h.cfg.Observer.ObserveRequest(ri)
}
