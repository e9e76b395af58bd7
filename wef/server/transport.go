// Package server is wefgate's WS-Management endpoint: it serves the
// subscription manager (Enumerate) and the delivery addresses (Events,
// Heartbeat, End, SubscriptionEnd) over HTTP/1.1, authenticates each
// forwarder through its listener's Security, hands selected events to a
// Sink and acknowledges a batch only once it is durable and its bookmark
// is stored.
//
// transport.go holds the HTTP side (listeners, connection state, body
// limits, refusals); wsman.go the WS-Man actions; consumers.go the
// interfaces the endpoint needs from the rest of wefgate.
package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"wefgate/internal/ratelog"
	"wefgate/wef/event"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// Decompressor undoes Content-Encoding: SLDC (see package wef/sldc).
type Decompressor func(src []byte, maxOut int) ([]byte, error)

// Config is what the handler needs; one Config serves every listener.
type Config struct {
	// Subscriptions are the configured subscriptions in configuration
	// order (disabled ones included, so their hosts get 404 rather than
	// silence).
	Subscriptions []Subscription
	State         State
	Sink          Sink
	// Keep decides which parsed events go on to the sink; the rest are
	// counted and dropped.
	Keep func(*event.Event) bool
	// MaxBodyBytes caps a request body as received (encrypted/compressed).
	MaxBodyBytes int64
	// SLDC decompresses SLDC-encoded bodies; nil refuses them.
	SLDC Decompressor
	// ReleaseSLDC, when set, is given back each output of SLDC once the
	// request no longer refers to it, for reuse (sldc.Decompressor).
	ReleaseSLDC func([]byte)
	// Budget, shared by every listener, bounds the request bytes in
	// memory at once; nil means no bound.
	Budget *Budget
	// Logs rate-limits refusal and damage lines per reason and address
	// (nil: every line is written).
	Logs   *ratelog.Limiter
	Logger *slog.Logger
	// Observer, when set, is told about every answered request (metrics,
	// access log).
	Observer Observer
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Stats counts what the endpoint did since start.
type Stats struct {
	Enumerates, Heartbeats, Batches          atomic.Uint64
	EventsReceived, EventsKept, EventsDamage atomic.Uint64
	// EventsEmpty counts w:Event elements with nothing readable (empty,
	// or content-free), dropped; BatchesOverLimit counts batches refused
	// for exceeding their subscription's MaxEnvelopeSize or MaxItems.
	EventsEmpty, BatchesOverLimit atomic.Uint64
	Refused, Failed               atomic.Uint64
}

// Handler serves one listener: the shared Config plus that listener's
// Security and advertised base URL.
type Handler struct {
	cfg *Config
	// subs is the current catalog of subscriptions (replaced on reload).
	subs  atomic.Pointer[catalog]
	stats *Stats
	// baseURL is the advertised scheme://host:port of this listener.
	baseURL  string
	security Security
	name     string
	// machineIDs limits MachineID mismatch warnings to one per host and
	// change.
	machineIDs *machineIDWarnings
}

// NewHandler returns the handler of one listener. stats may be shared
// between listeners.
func NewHandler(cfg *Config, name, baseURL string, sec Security, stats *Stats) *Handler {
	h := &Handler{cfg: cfg, stats: stats, baseURL: baseURL, security: sec, name: name, machineIDs: newMachineIDWarnings()}
	h.SetSubscriptions(cfg.Subscriptions)
	return h
}

// httpError is a refusal with the status to send and the reason to log.
type httpError struct {
	status int
	reason string
	err    error
	// fault, when set, is the SOAP fault sent (sealed) instead of text.
	fault []byte
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

// handleRecovered runs handleMessage and turns a panic (a bug some input
// reached in a parser) into a 500 for this request and an ERROR line naming
// the host, with the stack, instead of net/http's bare trace and a dropped
// connection. The connection is then closed (per-connection state such as
// a Kerberos context may be half updated). The batch was not acknowledged,
// so the host sends it again, which duplicates it if the panic came after
// the spool took it; the reservation and the connection lock are released
// by defers.
func (h *Handler) handleRecovered(r *http.Request, log *slog.Logger, conn *Conn, peer Peer) (status int, body []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			// Rate-limited like refusals: a host resends the same batch.
			h.cfg.Logs.Log(log, slog.LevelError, "panic while handling a request; answered 500 and closed the connection",
				"panic", hostOf(conn.Remote), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			status, body, err = 0, nil, refuse(http.StatusInternalServerError, reasonPanic, fmt.Errorf("panic: %v", p))
		}
	}()
	return h.handleMessage(r, log, conn, peer)
}

// reasonPanic is the refusal reason of a request whose handling panicked.
const reasonPanic = "internal error (panic)"

func refuse(status int, reason string, err error) *httpError {
	return &httpError{status: status, reason: reason, err: err}
}

func (h *Handler) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn := connFrom(r)
	sw := &statusWriter{ResponseWriter: w}
	if h.cfg.Observer != nil {
		var ri *RequestInfo
		r, ri = withRequestInfo(r, h.name, conn.Remote)
		defer h.observe(ri, sw, time.Now())
	}
	log := h.cfg.Logger.With("listener", h.name, "remote", conn.Remote)
	if r.Method != http.MethodPost {
		// Windows only ever POSTs; anything else is not a WS-Man client.
		h.cfg.Logs.Log(log, slog.LevelInfo, "refused request", "method is not POST", hostOf(conn.Remote),
			"status", http.StatusMethodNotAllowed, "method", ratelog.Clip(r.Method), "path", ratelog.Clip(r.URL.Path))
		sw.Header().Set("Allow", http.MethodPost)
		http.Error(sw, "WS-Management accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	conn.Lock()
	defer conn.Unlock()
	peer, handled := h.security.Authenticate(sw, r, conn)
	if handled {
		if sw.status >= 400 {
			h.stats.Refused.Add(1)
		}
		return
	}
	requestInfo(r).Identity = peer.Identity
	if conn.limited != nil {
		conn.limited.authenticate()
	}
	log = log.With("host", peer.Identity)
	status, body, err := h.handleRecovered(r, log, conn, peer)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = refuse(http.StatusInternalServerError, "internal error", err)
		}
		// Refusals are counted in full and logged one line per reason and
		// address per interval: a client can provoke thousands a second.
		msg := "refused request"
		if he.status >= 500 {
			h.stats.Failed.Add(1)
			msg = "request failed"
		} else {
			h.stats.Refused.Add(1)
		}
		attrs := []any{"status", he.status, "path", ratelog.Clip(r.URL.Path)}
		if he.err != nil {
			attrs = append(attrs, "error", ratelog.Clip(he.err.Error()))
		}
		h.cfg.Logs.Log(log, slog.LevelWarn, msg, he.reason, hostOf(conn.Remote), attrs...)
		if he.status == http.StatusServiceUnavailable {
			sw.Header().Set("Retry-After", "60")
		}
		if he.reason == reasonPanic {
			sw.Header().Set("Connection", "close")
		}
		if c, ok := h.security.(challenger); ok && he.status == http.StatusUnauthorized {
			c.challengeHeaders(sw)
		}
		if he.fault != nil {
			if err := h.security.Seal(sw, conn, he.status, soap.EncodeUTF16LE(he.fault)); err != nil {
				log.Warn("could not send fault", "error", err)
			}
			return
		}
		http.Error(sw, he.reason, he.status)
		return
	}
	if body == nil {
		sw.WriteHeader(status)
		return
	}
	if err := h.security.Seal(sw, conn, status, soap.EncodeUTF16LE(body)); err != nil {
		log.Warn("could not send response", "error", err)
	}
}

// handleMessage reads, opens and decodes one request body and dispatches
// the SOAP message to its action. It returns the status and the SOAP
// response (nil for none), or an *httpError refusal.
func (h *Handler) handleMessage(r *http.Request, log *slog.Logger, conn *Conn, peer Peer) (int, []byte, error) {
	raw, err := h.readBody(r)
	ri := requestInfo(r)
	ri.BytesIn = int64(len(raw))
	if err != nil {
		return 0, nil, err
	}
	if len(raw) == 0 {
		// The authentication round trip Windows makes on a new connection.
		ri.Action = ActionAuthenticate
		return http.StatusOK, nil, nil
	}
	// Once the body is in (a slow sender holds no budget while it sends),
	// the request reserves what it is about to allocate: an opened copy of
	// the body (Kerberos) and the decompressed body, sized by the length
	// Windows appends to an SLDC stream when that is within the limit
	// (else the limit; a sealed body shows it only once opened). Once the text is decoded the reservation follows
	// what stays referenced while the batch is made durable: the body, the
	// text and the parsed events' copies of it.
	sldcBody := strings.EqualFold(r.Header.Get("Content-Encoding"), "SLDC") && h.cfg.SLDC != nil
	body := int64(len(raw))
	limit := h.maxDecompressed()
	expect := limit
	if sldcBody {
		expect = sldcLength(raw, limit)
	}
	res := reservation{b: h.cfg.Budget}
	defer res.release()
	busy := func(err error) error {
		return refuse(http.StatusServiceUnavailable, "too many request bytes in flight, forwarder must retry later", err)
	}
	// A body whose end states no plausible length is either sealed
	// (Kerberos: the length is inside) or not a Windows stream: reserve
	// the body and its opened copy only, and the decompression once the
	// opened body shows its length.
	statedLater := sldcBody && expect == limit
	first := openReservation(body, sldcBody, expect)
	if statedLater {
		first = 2 * body
	}
	if err := res.resize(r.Context(), first); err != nil {
		return 0, nil, busy(err)
	}
	plain, err := h.security.Open(r, conn, raw)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			if he.status == http.StatusUnauthorized {
				ri.AuthRefusal = RefusalMessageUnwrap
			}
			return 0, nil, he
		}
		return 0, nil, refuse(http.StatusBadRequest, "cannot open message", err)
	}
	if statedLater {
		expect = sldcLength(plain, limit)
		if err := res.resize(r.Context(), openReservation(body, true, expect)); err != nil {
			return 0, nil, busy(err)
		}
	}
	var decompressed []byte
	if sldcBody {
		out, ok, err := h.decompress(log, plain, expect)
		if errors.Is(err, errBeyondExpected) {
			// The stated length was short (not a Windows stream): room for
			// the largest envelope, then decode again.
			if err := res.resize(r.Context(), openReservation(body, true, limit)); err != nil {
				return 0, nil, busy(err)
			}
			out, ok, err = h.decompress(log, plain, limit)
		}
		if err != nil {
			return 0, nil, err
		}
		if ok {
			decompressed, plain = out, out
		}
	}
	text, replaced := soap.DecodeText(plain)
	// UTF-16 text (what Windows sends) is a new buffer: the decompressed
	// body is done with. UTF-8 text may be the body itself, which the
	// events point into: that one stays with the garbage collector.
	if len(decompressed) > 0 && h.cfg.ReleaseSLDC != nil && !sharesArray(text, decompressed) {
		h.cfg.ReleaseSLDC(decompressed)
	}
	if replaced > 0 {
		h.cfg.Logs.Log(log, slog.LevelWarn, "invalid text encoding replaced", "invalid text encoding", hostOf(connFrom(r).Remote), "code_units", replaced)
	}
	if err := res.resize(r.Context(), textReservation(body, int64(len(text)))); err != nil {
		return 0, nil, busy(err)
	}
	msg, err := soap.Parse(text)
	if err != nil {
		return 0, nil, refuse(http.StatusBadRequest, "malformed SOAP envelope", err)
	}
	ri.Action = actionName(msg.Action)
	return h.dispatch(r, log, conn, peer, msg)
}

// readBody reads a request body within MaxBodyBytes; Windows always sends a
// Content-Length, so a body without one is refused before it is read.
//
// The buffer is sized from Content-Length (net/http delivers exactly that
// many bytes or fails), but allocated as the bytes arrive, at most
// max(bodyChunk, bytes received) ahead of them: a sender that announces a
// large body and stalls holds little memory.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength < 0 {
		return nil, refuse(http.StatusLengthRequired, "request has no Content-Length", nil)
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, h.cfg.MaxBodyBytes), nil)
	}
	size := int(r.ContentLength)
	raw := make([]byte, 0, min(size, bodyChunk))
	for len(raw) < size {
		if len(raw) == cap(raw) {
			raw = slices.Grow(raw, min(size-len(raw), max(len(raw), bodyChunk)))
		}
		n, err := r.Body.Read(raw[len(raw):min(cap(raw), size)])
		raw = raw[:len(raw)+n]
		if err == io.EOF && len(raw) < size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, refuse(http.StatusBadRequest, "reading body", err)
		}
		if err == io.EOF {
			break
		}
	}
	return raw, nil
}

// bodyChunk is how far readBody's buffer may run ahead of the bytes
// received while they are few (beyond it, as far as the bytes already
// received, so that growing stays linear): most delivery bodies fit in one.
const bodyChunk = 64 << 10

// errBeyondExpected is decompress's answer when a body decodes beyond the
// length it stated but within the largest envelope.
var errBeyondExpected = errors.New("SLDC body decodes beyond its stated length")

// decompress undoes SLDC, decoding at most limit bytes, and returns the
// decompressed body, or ok false to use the body as sent. Windows flags
// the End that follows a SubscriptionEnd as SLDC without compressing it,
// so a body that does not decode is taken as it is. A body that decodes
// beyond the largest envelope any subscription allows is refused with an
// EncodingLimit fault: no host may send it, and it is how a small request
// becomes a huge one. Beyond a smaller limit it returns errBeyondExpected.
func (h *Handler) decompress(log *slog.Logger, body []byte, limit int) (out []byte, ok bool, err error) {
	if h.cfg.SLDC == nil {
		return nil, false, nil
	}
	full := h.maxDecompressed()
	limit = min(limit, full)
	out, err = h.cfg.SLDC(body, limit)
	if errors.Is(err, sldc.ErrTooLarge) && limit < full {
		return nil, false, errBeyondExpected
	}
	if errors.Is(err, sldc.ErrTooLarge) {
		h.stats.BatchesOverLimit.Add(1)
		he := refuse(http.StatusBadRequest, fmt.Sprintf("SLDC body decompresses beyond %d bytes (%d compressed)", limit, len(body)), nil)
		he.fault = soap.EncodingLimitFault(&soap.Message{}, soap.FaultDetailMaxEnvelopeSize,
			fmt.Sprintf("The decompressed envelope exceeds the MaxEnvelopeSize of %d.", h.catalog().maxEnvelope))
		return nil, false, he
	}
	if err != nil {
		log.Debug("body flagged SLDC does not decompress; using it as sent", "error", err)
		return nil, false, nil
	}
	return out, true, nil
}

// sldcLength is the uncompressed length a Windows SLDC body states in its
// last four bytes (little-endian, after END_OF_RECORD), or limit when that
// is absent, zero or beyond limit. Nothing trusts it beyond sizing: a
// body that decodes longer is decoded again within limit.
func sldcLength(body []byte, limit int) int {
	if len(body) < 4 {
		return limit
	}
	n := binary.LittleEndian.Uint32(body[len(body)-4:])
	if n == 0 || uint64(n) > uint64(limit) {
		return limit
	}
	return int(n)
}

// sharesArray reports whether a and b are slices of one backing array
// (both reach its end), whatever part of it each covers.
func sharesArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

// openReservation is what a request of body bytes holds while it is
// opened and decoded: the body and an opened copy of it (Kerberos), plus,
// for SLDC, the decompressed bytes and the text DecodeText allocates from
// them; without SLDC, the text is at most the body's size again (UTF-8
// text is the body itself, UTF-16 text about half of it). For text that is
// mostly ASCII (what Windows sends) it is not less than textReservation of
// the same request, so the later resize only shrinks; text with many
// non-ASCII characters (up to 1.5 bytes of UTF-8 per byte of UTF-16) can
// make it grow.
func openReservation(body int64, sldcBody bool, decompressed int) int64 {
	if !sldcBody {
		return 3 * body
	}
	return 2*body + int64(decompressed) + int64(soap.TextSizeHint(decompressed))
}

// textReservation is what a request holds from the decoded text until it
// is answered: the body, the text, and the parsed events' copies of the
// text (at most its length; soap.Parse takes events as slices of it).
func textReservation(body, text int64) int64 { return body + 2*text }

// maxDecompressed is the most a decompressed body may hold: the largest
// envelope of any subscription in UTF-16 (two bytes a code unit, plus a
// BOM), or in UTF-8 (at most three bytes a code unit), whichever the body
// uses; never less than the body cap itself.
func (h *Handler) maxDecompressed() int {
	return max(3*h.catalog().maxEnvelope+3, int(h.cfg.MaxBodyBytes))
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Listener is one network endpoint of the server.
type Listener struct {
	Name    string
	Addr    string
	Handler http.Handler
	// TLS, when set, makes it an HTTPS listener.
	TLS *tls.Config
	// Limits, when MaxConnections is set, cap the listener's connections
	// and shorten the deadlines of unauthenticated ones; Conns counts them.
	Limits Limits
	Conns  *ConnStats
	// Logs rate-limits the refusal lines of the connection caps.
	Logs *ratelog.Limiter
	// Wrap, when set, wraps the bound TCP listener before TLS: a PROXY
	// protocol header comes before the TLS handshake.
	Wrap func(net.Listener) (net.Listener, error)
}

// ListenAndServe binds every listener, serves them until ctx is cancelled,
// then shuts them down gracefully (10 s, then closes). ready, when not nil,
// receives each bound address. It returns the first bind or serve error.
func ListenAndServe(ctx context.Context, logger *slog.Logger, listeners []Listener, ready func(name string, addr net.Addr)) error {
	errc := make(chan error, len(listeners))
	var servers []*http.Server
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err)
		}
		headerTimeout := 30 * time.Second
		if l.Limits.HandshakeTimeout > 0 {
			// Also bounds the TLS handshake (http.Server takes the least
			// of its timeouts).
			headerTimeout = l.Limits.HandshakeTimeout
		}
		srv := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: headerTimeout,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      2 * time.Minute,
			// Windows keeps the delivery connection open between batches
			// and pays a Kerberos round trip for every new one.
			IdleTimeout:    15 * time.Minute,
			MaxHeaderBytes: 64 << 10,
			ConnContext:    withConn,
			// An empty map disables HTTP/2: WS-Man is HTTP/1.1 only.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
			ErrorLog:     slog.NewLogLogger(logger.With("listener", l.Name).Handler(), slog.LevelDebug),
		}
		if l.Wrap != nil {
			wrapped, err := l.Wrap(ln)
			if err != nil {
				ln.Close()
				for _, s := range servers {
					s.Close()
				}
				return fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err)
			}
			ln = wrapped
		}
		if l.Limits.MaxConnections > 0 {
			// After the PROXY header (the real source address), before TLS
			// (a connection over a cap costs no handshake).
			ln = newConnLimiter(ln, l.Name, l.Limits, l.Conns, l.Logs, logger)
		}
		if l.TLS != nil {
			ln = tls.NewListener(&plainHTTPListener{Listener: ln, name: l.Name, logs: l.Logs, logger: logger}, l.TLS)
		}
		servers = append(servers, srv)
		if ready != nil {
			ready(l.Name, ln.Addr())
		}
		logger.Info("listening", "listener", l.Name, "address", ln.Addr().String(), "tls", l.TLS != nil)
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		for _, s := range servers {
			s.Close()
		}
		return fmt.Errorf("serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			s.Close()
		}
	}
	return nil
}
