package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// HostConfig describes one simulated host.
type HostConfig struct {
	// MachineID is the host's FQDN, sent as m:MachineID.
	MachineID string
	// ManagerURL is the GPO "Server=" URL of the subscription manager.
	ManagerURL string
	Client     *Client
	Log        Log
	Logger     *slog.Logger
	// Refresh is the GPO Refresh interval (default 60 s).
	Refresh time.Duration
	// StopWhenDrained makes Run return once every subscription has
	// delivered the whole log and it says no more will come.
	StopWhenDrained bool
	// MaxRetryWait caps the wait between retries of a refused batch
	// (default: the subscription's ConnectionRetry interval).
	MaxRetryWait time.Duration
	// OnAck, when set, is called with each acknowledged batch.
	OnAck func(sub soap.Subscription, records []Record)
	// Replay makes the host send pre-built event bodies: the w:Events
	// element (UTF-16LE, and as an SLDC segment when compressed, see
	// sldc.Segment) of the first batch of each size is built once and sent
	// again after a header built for each batch (its own MessageID, the
	// batch's bookmark, this host's MachineID). This is the load driver's
	// mode, where a host's cost per batch is the header, sealing and
	// writing. Event contents then repeat, and batches above 4 events are
	// cut to 4, 6, 8, 12, 16, 24, … events (the rest is sent next).
	Replay bool
	// Bodies, with Replay, holds the pre-built event bodies; hosts that
	// share one send the same events (the load driver's fleet shares one
	// pool of events). Nil: the host keeps its own.
	Bodies *Bodies
	// AckLatency, when set, records the time from sending each Events
	// batch to reading its Ack.
	AckLatency *Histogram
	// MaxTime, when set, replaces the subscriptions' MaxTime: how long the
	// host gathers events after the first pending one before it sends the
	// batch. Tests that want a steady stream of small batches use it.
	MaxTime time.Duration
	// DeliverTo, when set, replaces the host:port of every subscription's
	// delivery address (the load driver points hosts at its floor server).
	DeliverTo string
}

// Stats counts what a host did.
type Stats struct {
	Enumerates, Batches, Heartbeats, EventsAcked, Retries atomic.Uint64
	// EnumerateFailures counts Enumerates that failed (connection refused
	// or reset, handshake or HTTP error) and were retried.
	EnumerateFailures atomic.Uint64
}

// Host is one simulated Windows forwarder.
type Host struct {
	cfg   HostConfig
	Stats Stats
}

// Bodies holds pre-built w:Events bodies for replaying hosts (see
// HostConfig.Replay), one per subscription, batch size and encoding. It is
// safe for concurrent use by many hosts.
type Bodies struct {
	mu sync.Mutex
	m  map[bodyKey]*eventsPart
}

type bodyKey struct {
	sub        string
	events     int
	compressed bool
}

// eventsPart is the end of an Events envelope, from w:Events to
// </s:Envelope>: UTF-16LE without BOM, or that as an SLDC segment.
type eventsPart struct {
	bytes []byte
	// utf16 is the length before compression.
	utf16 int
}

// maxBodies bounds the bodies one Bodies keeps: replaySize makes a few
// sizes per subscription, so this is never reached in practice.
const maxBodies = 256

// part returns the stored body for key, building it with build (UTF-16LE)
// the first time. Hosts that race on a new key may each build it; one is
// kept.
func (b *Bodies) part(key bodyKey, build func() []byte) *eventsPart {
	b.mu.Lock()
	p := b.m[key]
	b.mu.Unlock()
	if p != nil {
		return p
	}
	utf16 := build()
	p = &eventsPart{bytes: utf16, utf16: len(utf16)}
	if key.compressed {
		p.bytes = sldc.Segment(utf16)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.m[key]; q != nil {
		return q
	}
	if b.m == nil {
		b.m = map[bodyKey]*eventsPart{}
	}
	if len(b.m) < maxBodies {
		b.m[key] = p
	}
	return p
}

// envelopeEnd closes what soap.Request.Build opens.
const envelopeEnd = `</s:Body></s:Envelope>`

// replaySize is the batch size a replaying host sends for n gathered
// records: n up to 4, above that n rounded down to 2 significant bits
// (4, 6, 8, 12, 16, 24, 32, …). The records left over start the next
// batch, so rates are kept, while a host needs few pre-built bodies even
// when a slow collector makes its batches vary (each new size costs an
// SLDC compression, the driver's most expensive step).
func replaySize(n int) int {
	if n <= 4 {
		return n
	}
	shift := bits.Len(uint(n)) - 2
	return n >> shift << shift
}

// NewHost returns a host; call Run.
func NewHost(cfg HostConfig) *Host {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Replay && cfg.Bodies == nil {
		cfg.Bodies = &Bodies{}
	}
	return &Host{cfg: cfg}
}

// errSubscriptionGone means the collector no longer knows the
// subscription (404/403): re-enumerate.
var errSubscriptionGone = errors.New("subscription withdrawn by the collector")

// Enumerate asks the subscription manager for this host's subscriptions,
// then sends the End Windows sends and drops the connection.
func (h *Host) Enumerate(ctx context.Context) ([]soap.Subscription, error) {
	u, err := url.Parse(h.cfg.ManagerURL)
	if err != nil {
		return nil, fmt.Errorf("subscription manager URL: %w", err)
	}
	op := soap.NewMessageID()
	req := soap.Request{
		Action: soap.ActionEnumerate, To: h.cfg.ManagerURL, ResourceURI: soap.ResourceSubscription,
		MachineID: h.cfg.MachineID, MessageID: soap.NewMessageID(), SessionID: soap.NewMessageID(), OperationID: op,
		Body: []byte(soap.EnumerateBody),
	}
	resp, err := h.cfg.Client.Send(ctx, u, req.Build(), false)
	if err != nil {
		return nil, fmt.Errorf("enumerate: %w", err)
	}
	relates, subs, err := soap.ParseEnumerateResponse(resp)
	if err != nil {
		return nil, err
	}
	if relates != req.MessageID {
		return nil, fmt.Errorf("enumerate: RelatesTo %q does not echo MessageID %q", relates, req.MessageID)
	}
	end := soap.Request{
		Action: soap.ActionEnd, To: h.cfg.ManagerURL, ResourceURI: soap.ResourceFullDuplex, MachineID: h.cfg.MachineID,
		MessageID: soap.NewMessageID(), OperationID: op,
		Body: []byte(`<p:OperationID s:mustUnderstand="false">` + op + `</p:OperationID>`),
	}
	if _, err := h.cfg.Client.Send(ctx, u, end.Build(), false); err != nil {
		return nil, fmt.Errorf("end after enumerate: %w", err)
	}
	h.cfg.Client.Close(u)
	h.Stats.Enumerates.Add(1)
	return subs, nil
}

// Deliver sends one Events batch and waits for its Ack.
func (h *Host) Deliver(ctx context.Context, sub soap.Subscription, records []Record, bookmark string) error {
	compress := sub.Compression == "SLDC" && h.cfg.Client.Compress != nil
	req := h.deliveryRequest(sub, soap.ActionEvents)
	req.Bookmark = bookmark
	var body []byte
	if h.cfg.Replay {
		body = h.replayBody(&req, sub, records, compress)
	} else {
		req.Body = soap.EventsBody(eventsOf(records))
		body = soap.EncodeUTF16LE(req.Build())
		if compress {
			body = h.cfg.Client.Compress(body)
		}
	}
	start := time.Now()
	if err := h.sendEncoded(ctx, sub, body, compress); err != nil {
		return err
	}
	if h.cfg.AckLatency != nil {
		h.cfg.AckLatency.Observe(time.Since(start))
	}
	h.Stats.Batches.Add(1)
	h.Stats.EventsAcked.Add(uint64(len(records)))
	return nil
}

// replayBody is req's envelope with the stored w:Events body of this
// subscription and size (built from records the first time): the header
// is encoded (and compressed as its own SLDC segment) for each batch, the
// events part once.
func (h *Host) replayBody(req *soap.Request, sub soap.Subscription, records []Record, compress bool) []byte {
	part := h.cfg.Bodies.part(bodyKey{sub.ID, len(records), compress}, func() []byte {
		x := append(soap.EventsBody(eventsOf(records)), envelopeEnd...)
		return soap.EncodeUTF16LE(x)[2:] // without the BOM: the header has it
	})
	head := req.Build()
	head = soap.EncodeUTF16LE(head[:len(head)-len(envelopeEnd)])
	if !compress {
		return append(head, part.bytes...)
	}
	seg := sldc.Segment(head)
	body := make([]byte, 0, len(seg)+len(part.bytes)+8)
	body = append(append(body, seg...), part.bytes...)
	return sldc.End(body, len(head)+part.utf16)
}

func eventsOf(records []Record) [][]byte {
	events := make([][]byte, len(records))
	for i, r := range records {
		events[i] = r.XML
	}
	return events
}

// Heartbeat sends a Heartbeat and waits for its Ack.
func (h *Host) Heartbeat(ctx context.Context, sub soap.Subscription) error {
	req := h.deliveryRequest(sub, soap.ActionHeartbeat)
	req.Body = []byte(`<w:Events></w:Events>`)
	if err := h.sendAcked(ctx, sub, &req); err != nil {
		return err
	}
	h.Stats.Heartbeats.Add(1)
	return nil
}

// SubscriptionEnd tells the collector the host gives the subscription up.
func (h *Host) SubscriptionEnd(ctx context.Context, sub soap.Subscription, reason string) error {
	u, err := h.deliveryURL(sub)
	if err != nil {
		return err
	}
	req := h.deliveryRequest(sub, soap.ActionSubscriptionEnd)
	req.Body = soap.SubscriptionEndBody(sub.Address, sub.ID, h.cfg.MachineID, reason)
	_, err = h.cfg.Client.Send(ctx, u, req.Build(), sub.Compression == "SLDC")
	return err
}

func (h *Host) deliveryRequest(sub soap.Subscription, action string) soap.Request {
	return soap.Request{
		Action: action, To: sub.Address, MachineID: h.cfg.MachineID, MessageID: soap.NewMessageID(),
		SessionID: soap.NewMessageID(), OperationID: soap.NewMessageID(), Locale: sub.Locale,
		Identifier: sub.ID, Version: sub.Version, Revision: sub.Revision, AckRequested: true,
	}
}

func (h *Host) sendAcked(ctx context.Context, sub soap.Subscription, req *soap.Request) error {
	body := soap.EncodeUTF16LE(req.Build())
	compress := sub.Compression == "SLDC" && h.cfg.Client.Compress != nil
	if compress {
		body = h.cfg.Client.Compress(body)
	}
	return h.sendEncoded(ctx, sub, body, compress)
}

// deliveryURL is the subscription's delivery address, with DeliverTo's
// host:port when set.
func (h *Host) deliveryURL(sub soap.Subscription) (*url.URL, error) {
	u, err := url.Parse(sub.Address)
	if err != nil {
		return nil, fmt.Errorf("delivery address: %w", err)
	}
	if h.cfg.DeliverTo != "" {
		u.Host = h.cfg.DeliverTo
	}
	return u, nil
}

// sendEncoded sends an encoded Events or Heartbeat body and checks that
// the answer is an Ack.
func (h *Host) sendEncoded(ctx context.Context, sub soap.Subscription, body []byte, compressed bool) error {
	u, err := h.deliveryURL(sub)
	if err != nil {
		return err
	}
	resp, err := h.cfg.Client.SendEncoded(ctx, u, body, compressed)
	if err != nil {
		return err
	}
	msg, err := soap.Parse(resp)
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if msg.Action != soap.ActionAck {
		return fmt.Errorf("expected an Ack, got action %q", msg.Action)
	}
	return nil
}

// Run enumerates and follows the subscriptions until ctx ends (or, with
// StopWhenDrained, until the log is delivered), re-enumerating every
// Refresh and re-subscribing when a subscription's version changes.
func (h *Host) Run(ctx context.Context) error {
	log := h.cfg.Logger.With("host", h.cfg.MachineID)
	defer h.cfg.Client.CloseAll()
	backoff := newBackoff(200*time.Millisecond, h.maxRetryWait(time.Minute))
	for {
		subs, err := h.Enumerate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.Stats.EnumerateFailures.Add(1)
			log.Warn("enumerate failed", "error", err)
			if err := backoff.wait(ctx); err != nil {
				return err
			}
			continue
		}
		backoff.reset()
		if len(subs) == 0 && h.cfg.StopWhenDrained {
			return nil
		}
		done, err := h.follow(ctx, log, subs)
		if done || err != nil {
			return err
		}
	}
}

// follow runs the subscriptions until they are drained (done), or a
// refresh finds them changed or one is withdrawn (re-enumerate).
func (h *Host) follow(ctx context.Context, log *slog.Logger, subs []soap.Subscription) (done bool, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Stop the subscription loops before waiting for them.
	defer func() {
		cancel()
		wg.Wait()
	}()
	results := make(chan error, len(subs))
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- h.followOne(runCtx, log.With("subscription", s.Name), s)
		}()
	}
	finished := 0
	refresh := time.NewTicker(h.cfg.Refresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-results:
			if errors.Is(err, errSubscriptionGone) {
				log.Info("subscription withdrawn; enumerating again")
				return false, nil
			}
			if err != nil {
				return true, err
			}
			finished++
			if finished == len(subs) {
				return true, nil
			}
		case <-refresh.C:
			fresh, err := h.Enumerate(ctx)
			if err != nil {
				log.Warn("refresh failed", "error", err)
				continue
			}
			if !sameVersions(subs, fresh) {
				log.Info("subscriptions changed; re-subscribing")
				return false, nil
			}
		}
	}
}

func sameVersions(a, b []soap.Subscription) bool {
	key := func(s []soap.Subscription) []string {
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = x.ID + "/" + x.Version
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func (h *Host) maxRetryWait(def time.Duration) time.Duration {
	if h.cfg.MaxRetryWait > 0 {
		return h.cfg.MaxRetryWait
	}
	return def
}

// followOne delivers one subscription's events in batches, with
// heartbeats while idle. It returns nil when the log is drained (with
// StopWhenDrained), errSubscriptionGone when the collector withdrew it.
func (h *Host) followOne(ctx context.Context, log *slog.Logger, sub soap.Subscription) error {
	bookmark, err := ParseBookmark(sub.Bookmark)
	if err != nil {
		log.Warn("unreadable bookmark from the collector; starting from the beginning", "error", err)
		bookmark = map[string]uint64{}
	}
	maxItems := sub.MaxElements
	if maxItems <= 0 {
		maxItems = 5000
	}
	envelope := sub.MaxEnvelopeSize
	if envelope <= 0 {
		envelope = 512000
	}
	backoff := newBackoff(100*time.Millisecond, h.maxRetryWait(sub.ConnectionRetryInterval))
	maxTime := sub.MaxTime
	if h.cfg.MaxTime > 0 {
		maxTime = h.cfg.MaxTime
	}
	q := parseQuery(sub.Query)
	lastSent := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if h.cfg.StopWhenDrained && h.cfg.Log.Drained(bookmark) {
			return nil
		}
		// Idle: wait for the first pending event until a heartbeat is due.
		wait := time.Until(lastSent.Add(sub.Heartbeat))
		if h.cfg.StopWhenDrained {
			wait = min(wait, 50*time.Millisecond)
		}
		recs, err := h.cfg.Log.Read(ctx, bookmark, maxItems, max(wait, 0))
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			if time.Since(lastSent) < sub.Heartbeat {
				continue
			}
			err := h.retry(ctx, log, backoff, func() error { return h.Heartbeat(ctx, sub) })
			if err != nil {
				return err
			}
			lastSent = time.Now()
			continue
		}
		if !slices.ContainsFunc(recs, q.matches) {
			// Nothing the query selects is pending: move on without
			// starting a batch.
			for _, r := range recs {
				bookmark[r.Channel] = max(bookmark[r.Channel], r.RecordID)
			}
			continue
		}
		if recs, err = h.gather(ctx, bookmark, recs, maxItems, envelope, maxTime); err != nil {
			return err
		}
		recs = fitEnvelope(recs, envelope)
		if h.cfg.Replay {
			// The rest stays pending for the next batch.
			recs = recs[:replaySize(len(recs))]
		}
		next := maps(bookmark)
		for _, r := range recs {
			next[r.Channel] = max(next[r.Channel], r.RecordID)
		}
		// Events the query does not select move the bookmark on but are
		// not sent, as on Windows.
		selected := recs[:0:0]
		for _, r := range recs {
			if q.matches(r) {
				selected = append(selected, r)
			}
		}
		if len(selected) == 0 {
			bookmark = next
			continue
		}
		recs = selected
		bm := FormatBookmark(next)
		err = h.retry(ctx, log, backoff, func() error { return h.Deliver(ctx, sub, recs, bm) })
		if err != nil {
			return err
		}
		if h.cfg.OnAck != nil {
			h.cfg.OnAck(sub, recs)
		}
		bookmark = next
		lastSent = time.Now()
	}
}

// gather completes a batch from its first pending records as Windows
// does: it keeps reading the log until the batch holds maxItems records,
// fills an envelope of envelope bytes, or maxTime has passed since the
// first record was seen. A log that says no more records will come ends
// the batch at once (waiting could add nothing). The records that do not
// fit the envelope are left for the next batch.
func (h *Host) gather(ctx context.Context, after map[string]uint64, batch []Record, maxItems, envelope int, maxTime time.Duration) ([]Record, error) {
	deadline := time.Now().Add(maxTime)
	timed, _ := h.cfg.Log.(arrivals)
	for len(batch) < maxItems && len(fitEnvelope(batch, envelope)) == len(batch) {
		cursor := maps(after)
		for _, r := range batch {
			cursor[r.Channel] = max(cursor[r.Channel], r.RecordID)
		}
		wait := time.Until(deadline)
		if wait <= 0 || h.cfg.Log.Drained(cursor) {
			break
		}
		if timed != nil {
			// Sleep once until the batch would be full (or MaxTime), then
			// take what arrived, rather than waking for every event.
			if at, ok := timed.ArrivalOf(cursor, min(maxItems, fitCount(batch, envelope))-len(batch)); ok {
				wait = min(wait, time.Until(at))
			}
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			wait = 0
		}
		more, err := h.cfg.Log.Read(ctx, cursor, maxItems-len(batch), wait)
		if err != nil {
			return nil, err
		}
		batch = append(batch, more...)
	}
	return fitEnvelope(batch, envelope), nil
}

// arrivals is implemented by logs that know when future records arrive
// (GeneratedLog), so that gather sleeps once per batch.
type arrivals interface {
	// ArrivalOf returns when the log will hold n more records after the
	// bookmark, or every record it will ever hold if that is fewer; false
	// when it cannot say.
	ArrivalOf(after map[string]uint64, n int) (time.Time, bool)
}

// fitCount estimates how many records of the batch's average size fit an
// envelope of limit bytes (at least one more than the batch holds).
func fitCount(batch []Record, limit int) int {
	size := 0
	for _, r := range batch {
		size += 2*len(r.XML) + 200
	}
	if len(batch) == 0 || size == 0 {
		return len(batch) + 1
	}
	return max((limit-4096)*len(batch)/size, len(batch)+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retry runs send until it succeeds, the collector withdraws the
// subscription, or ctx ends. Windows keeps the events in its log while
// the collector refuses them, so retrying forever loses nothing.
func (h *Host) retry(ctx context.Context, log *slog.Logger, b *backoff, send func() error) error {
	for {
		err := send()
		if err == nil {
			b.reset()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if IsStatus(err, http.StatusNotFound) || IsStatus(err, http.StatusForbidden) {
			return fmt.Errorf("%w: %v", errSubscriptionGone, err)
		}
		h.Stats.Retries.Add(1)
		log.Debug("delivery refused; will retry", "error", err)
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
}

// fitEnvelope keeps the leading records whose UTF-16 envelope stays within
// limit bytes (always at least one).
func fitEnvelope(recs []Record, limit int) []Record {
	size := 4096 // headers and bookmark
	for i, r := range recs {
		size += 2*len(r.XML) + 200
		if size > limit && i > 0 {
			return recs[:i]
		}
	}
	return recs
}

func maps(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ParseBookmark reads a <BookmarkList> (soap.ParseBookmarkList) into
// channel → record id, keeping the channel names as written, since a host
// reads its logs by those names. "" and the "earliest" marker mean no
// bookmark.
func ParseBookmark(s string) (map[string]uint64, error) {
	list, err := soap.ParseBookmarkList(s)
	if err != nil {
		return map[string]uint64{}, fmt.Errorf("parse bookmark: %w", err)
	}
	out := make(map[string]uint64, len(list))
	for _, b := range list {
		out[b.Channel] = max(out[b.Channel], b.RecordID)
	}
	return out, nil
}

// FormatBookmark renders channel → record id as Windows does.
func FormatBookmark(m map[string]uint64) string {
	channels := make([]string, 0, len(m))
	for c := range m {
		channels = append(channels, c)
	}
	sort.Strings(channels)
	var b strings.Builder
	b.WriteString("<BookmarkList>")
	for i, c := range channels {
		fmt.Fprintf(&b, `<Bookmark Channel="%s" RecordId="%d"`, xmlAttr(c), m[c])
		if i == 0 {
			b.WriteString(` IsCurrent="true"`)
		}
		b.WriteString("/>")
	}
	b.WriteString("</BookmarkList>")
	return b.String()
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;").Replace(s)
}

type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(minWait, maxWait time.Duration) *backoff {
	if maxWait < minWait {
		maxWait = minWait
	}
	return &backoff{min: minWait, max: maxWait, cur: minWait}
}

func (b *backoff) reset() { b.cur = b.min }

func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.cur)
	defer t.Stop()
	b.cur = min(b.cur*2, b.max)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
