package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"wefgate/internal/ratelog"
	"wefgate/wef/event"
	"wefgate/wef/soap"
)

// dispatch runs the WS-Man action of one parsed message (MS-WSMV 3.1.4:
// Enumerate on the subscription manager, Events/Heartbeat/End/
// SubscriptionEnd on a delivery address).
func (h *Handler) dispatch(r *http.Request, log *slog.Logger, conn *Conn, peer Peer, msg *soap.Message) (int, []byte, error) {
	// The MachineID is the client's claim: no FQDN is longer than 253
	// bytes, so a longer one is cut before it is logged or stored.
	msg.MachineID = ratelog.Clip(msg.MachineID)
	if msg.MachineID != "" {
		if machineMatches(peer.Identity, msg.MachineID) {
			h.machineIDs.matched(peer.Identity)
		} else if h.machineIDs.mismatched(peer.Identity, msg.MachineID) {
			log.Warn("MachineID does not match the authenticated identity", "machine_id", msg.MachineID)
		}
	}
	delivery := isDeliveryPath(r.URL.Path)
	switch msg.Action {
	case soap.ActionEnumerate:
		if delivery {
			return 0, nil, refuse(http.StatusBadRequest, "Enumerate sent to a delivery address", nil)
		}
		return h.enumerate(r.Context(), log, msg, peer)
	case soap.ActionHeartbeat:
		return h.heartbeat(r, log, msg, peer)
	case soap.ActionEvents:
		return h.events(r, log, msg, peer)
	case soap.ActionEnd:
		return http.StatusNoContent, nil, nil
	case soap.ActionSubscriptionEnd:
		h.cfg.Logs.Log(log, slog.LevelInfo, "forwarder ended its subscription", "subscription end", peer.Identity,
			"subscription_id", ratelog.Clip(msg.Identifier), "status", ratelog.Clip(msg.Status))
		return http.StatusNoContent, nil, nil
	default:
		return 0, nil, refuse(http.StatusBadRequest, fmt.Sprintf("unsupported action %q", msg.Action), nil)
	}
}

func (h *Handler) enumerate(ctx context.Context, log *slog.Logger, msg *soap.Message, peer Peer) (int, []byte, error) {
	h.stats.Enumerates.Add(1)
	var offers []soap.Subscription
	for _, s := range h.catalog().list {
		if !s.IsEnabled() || !s.Admits(peer.Identity) {
			continue
		}
		id, _ := s.Key()
		bm, err := h.cfg.State.Bookmark(ctx, peer.Identity, id)
		if err != nil {
			return 0, nil, refuse(http.StatusServiceUnavailable, "state store unavailable", err)
		}
		offers = append(offers, s.Offer(h.baseURL, peer.Auth, bm))
	}
	log.Info("enumerate", "machine_id", msg.MachineID, "subscriptions", len(offers))
	return http.StatusOK, soap.EnumerateResponse(msg, offers), nil
}

// subscriptionFor finds the subscription a delivery message belongs to and
// checks the host may use it. It returns the subscription with its id and
// name.
func (h *Handler) subscriptionFor(msg *soap.Message, peer Peer, ri *RequestInfo) (s Subscription, id, name string, err error) {
	if msg.Identifier == "" {
		return nil, "", "", refuse(http.StatusBadRequest, "delivery message without e:Identifier", nil)
	}
	s, ok := h.catalog().byID[strings.ToUpper(msg.Identifier)]
	if !ok || !s.IsEnabled() {
		return nil, "", "", refuse(http.StatusNotFound, fmt.Sprintf("unknown or disabled subscription %s", msg.Identifier), nil)
	}
	id, name = s.Key()
	ri.Subscription = name
	if !s.Admits(peer.Identity) {
		ri.AuthRefusal = RefusalHostNotAllowed
		return nil, "", "", refuse(http.StatusForbidden, fmt.Sprintf("host is not allowed on subscription %q", name), nil)
	}
	return s, id, name, nil
}

func (h *Handler) heartbeat(r *http.Request, log *slog.Logger, msg *soap.Message, peer Peer) (int, []byte, error) {
	_, id, name, err := h.subscriptionFor(msg, peer, requestInfo(r))
	if err != nil {
		return 0, nil, err
	}
	h.stats.Heartbeats.Add(1)
	c := Contact{
		Identity: peer.Identity, SubscriptionID: id, Subscription: name, MachineID: msg.MachineID,
		Address: remoteIP(r), At: h.now(), Heartbeat: true,
	}
	// A forwarder that drops the connection must not abort the commit.
	if err := h.cfg.State.CommitBatch(context.WithoutCancel(r.Context()), "", c); err != nil {
		return 0, nil, refuse(http.StatusServiceUnavailable, "state store unavailable", err)
	}
	log.Debug("heartbeat", "subscription", name)
	return http.StatusOK, soap.Ack(msg), nil
}

func (h *Handler) events(r *http.Request, log *slog.Logger, msg *soap.Message, peer Peer) (int, []byte, error) {
	ri := requestInfo(r)
	s, id, name, err := h.subscriptionFor(msg, peer, ri)
	if err != nil {
		return 0, nil, err
	}
	if err := h.checkBatchLimits(msg, s); err != nil {
		return 0, nil, err
	}
	ctx := context.WithoutCancel(r.Context())
	now := h.now()
	h.stats.Batches.Add(1)
	h.stats.EventsReceived.Add(uint64(msg.EventElements()))
	ri.EventsReceived = msg.EventElements()
	batch := &Batch{
		Identity: peer.Identity, MachineID: msg.MachineID, Address: remoteIP(r),
		Subscription: name, SubscriptionID: id, SubscriptionVersion: msg.Version, Received: now,
		Events: make([]*event.Event, 0, len(msg.Events)),
	}
	damage := batchDamage{empty: msg.EmptyEvents}
	for _, raw := range msg.Events {
		ev := event.Parse(raw)
		if ev.ContentFree() {
			// Nothing to export: every such element would become the same
			// empty record.
			damage.empty++
			continue
		}
		if ev.Problem != nil {
			damage.add(ev)
			ri.EventsDamaged++
			// An event whose id could not be read may be one we want: keep
			// it, with its problem recorded, rather than lose it.
			if ev.Problem.Kind == event.ProblemUnparsable {
				batch.Events = append(batch.Events, ev)
				continue
			}
		}
		if h.cfg.Keep(ev) {
			batch.Events = append(batch.Events, ev)
		}
	}
	h.stats.EventsEmpty.Add(uint64(damage.empty))
	h.stats.EventsDamage.Add(uint64(damage.damaged))
	damage.log(h.cfg.Logs, log, peer.Identity, name, msg.EventElements())
	kept := len(batch.Events)
	if kept > 0 {
		if err := h.cfg.Sink.Accept(ctx, batch); err != nil {
			if errors.Is(err, ErrBackpressure) {
				return 0, nil, refuse(http.StatusServiceUnavailable, "spool full, forwarder must retry later", err)
			}
			return 0, nil, refuse(http.StatusServiceUnavailable, "could not hand events on", err)
		}
	}
	h.stats.EventsKept.Add(uint64(kept))
	ri.EventsKept = kept
	if msg.Bookmark == "" {
		h.cfg.Logs.Log(log, slog.LevelWarn, "events batch without bookmark", "batch without bookmark", peer.Identity, "subscription", name)
	}
	c := Contact{
		Identity: peer.Identity, SubscriptionID: id, Subscription: name, MachineID: msg.MachineID,
		Address: batch.Address, At: now, Events: len(msg.Events),
	}
	if err := h.cfg.State.CommitBatch(ctx, msg.Bookmark, c); err != nil {
		return 0, nil, refuse(http.StatusServiceUnavailable, "state store unavailable", err)
	}
	log.Debug("events", "subscription", name, "received", msg.EventElements(), "kept", kept)
	return http.StatusOK, soap.Ack(msg), nil
}

// checkBatchLimits refuses, with a wsman:EncodingLimit fault, a batch larger
// than its subscription announced: more w:Event elements (empty ones
// included) than MaxItems, or an envelope beyond MaxEnvelopeSize (see
// soap.EnvelopeSize for how it is counted). Windows sends a single event larger than the
// envelope on its own (Policy="Notify"), so a one-event batch passes.
func (h *Handler) checkBatchLimits(msg *soap.Message, s Subscription) error {
	maxEnvelope, maxItems := s.BatchLimits()
	n := msg.EventElements()
	var reason, detail string
	switch {
	case maxItems > 0 && n > maxItems:
		reason = soap.TooLarge("batch of events", n, maxItems) + " (MaxItems)"
	case maxEnvelope > 0 && msg.Size > maxEnvelope && n > 1:
		reason = soap.TooLarge("envelope of characters", msg.Size, maxEnvelope) + " (MaxEnvelopeSize)"
		detail = soap.FaultDetailMaxEnvelopeSize
	default:
		return nil
	}
	h.stats.BatchesOverLimit.Add(1)
	he := refuse(http.StatusBadRequest, reason, nil)
	he.fault = soap.EncodingLimitFault(msg, detail, reason+".")
	return he
}

// batchDamage sums up the damaged and empty events of one batch, so that a
// host sending thousands of them costs one log line, not thousands.
type batchDamage struct {
	empty, damaged int
	byKind         map[event.ProblemKind]int
	// first is the first damaged event, as an example.
	first *event.Event
}

func (d *batchDamage) add(ev *event.Event) {
	d.damaged++
	if d.byKind == nil {
		d.byKind = make(map[event.ProblemKind]int, 3)
	}
	d.byKind[ev.Problem.Kind]++
	if d.first == nil {
		d.first = ev
	}
}

func (d *batchDamage) log(logs *ratelog.Limiter, log *slog.Logger, host, subscription string, elements int) {
	if d.empty == 0 && d.damaged == 0 {
		return
	}
	attrs := []any{"subscription", subscription, "events", elements, "empty", d.empty, "damaged", d.damaged}
	for _, k := range []event.ProblemKind{event.ProblemRecovered, event.ProblemPartial, event.ProblemUnparsable} {
		if n := d.byKind[k]; n > 0 {
			attrs = append(attrs, string(k), n)
		}
	}
	if d.first != nil {
		attrs = append(attrs, "example", ratelog.Clip(d.first.Problem.Message), "example_event_id", d.first.EventID,
			"example_record_id", d.first.RecordID)
	}
	// A host's every batch may be damaged: at most one line per interval,
	// the counts in full in the counters.
	logs.Log(log, slog.LevelWarn, "damaged or empty events in batch", "damaged events", host, attrs...)
}

func isDeliveryPath(p string) bool {
	return len(p) >= len(soap.DeliveryPath) &&
		strings.EqualFold(p[:len(soap.DeliveryPath)], soap.DeliveryPath)
}

// machineMatches compares the client-asserted MachineID (an FQDN) with the
// authenticated identity: a certificate's FQDN, or a Kerberos principal
// NAME$@REALM whose NAME is the MachineID's first label. Active Directory
// cuts a computer's sAMAccountName to its 15-character NetBIOS name, so a
// NAME of 15 characters also matches a longer label that starts with it.
func machineMatches(identity, machineID string) bool {
	id, mid := strings.ToLower(identity), strings.ToLower(machineID)
	if id == mid {
		return true
	}
	if at := strings.IndexByte(id, '@'); at >= 0 {
		name := strings.TrimSuffix(id[:at], "$")
		label, _, _ := strings.Cut(mid, ".")
		return name == label || len(name) == netBIOSNameLen && strings.HasPrefix(label, name)
	}
	return false
}

// netBIOSNameLen is the length of a NetBIOS computer name, to which Active
// Directory truncates sAMAccountName (Microsoft, "Naming conventions in
// Active Directory for computers, domains, sites, and OUs").
const netBIOSNameLen = 15

// maxMachineIDWarnings bounds the hosts whose mismatching MachineID is
// remembered; when full the memory is cleared and hosts warn once more.
const maxMachineIDWarnings = 1 << 16

// machineIDWarnings remembers, per authenticated host, the mismatching
// MachineID last warned about, so that a mismatch is logged once per host
// and per change of MachineID, not on every connection.
type machineIDWarnings struct {
	mu   sync.Mutex
	last map[string]string
	// n is len(last), read without the lock on the path of every request.
	n atomic.Int64
}

func newMachineIDWarnings() *machineIDWarnings {
	return &machineIDWarnings{last: make(map[string]string)}
}

// mismatched records that identity sent machineID, which does not match
// it, and reports whether that is news worth a warning.
func (w *machineIDWarnings) mismatched(identity, machineID string) bool {
	machineID = strings.ToLower(machineID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.last[identity]; ok && last == machineID {
		return false
	}
	if len(w.last) >= maxMachineIDWarnings {
		clear(w.last)
	}
	w.last[identity] = machineID
	w.n.Store(int64(len(w.last)))
	return true
}

// matched forgets identity's mismatch: a later one is a change again.
func (w *machineIDWarnings) matched(identity string) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, identity)
	w.n.Store(int64(len(w.last)))
}
