// Package forwarder is a WEF client that behaves like a Windows host
// configured by GPO ("Configure target Subscription Manager"). Tests drive
// wefgate with it, and 'wefgate forwarder' and 'wefgate load' run fleets
// of it.
//
// # The Windows model it follows
//
// A host enumerates its subscriptions at the subscription manager URL
// (Enumerate, then End, then it closes that connection), re-enumerates
// every GPO Refresh interval, and tears a subscription down and
// subscribes again when its m:Version changes. For each subscription it
// opens one keep-alive connection to the delivery address
// (NotifyTo/Address), authenticates it once (TLS client certificate, or
// the empty Kerberos POST with mutual authentication), and sends every
// message of that subscription on it, waiting for each Ack before the
// next message. Subscriptions never share a connection.
//
// Events are batched as the Windows Event Forwarding service does. While
// nothing is pending the host is idle. The first pending event (one the
// subscription's query selects) starts a batch; the host keeps
// collecting until the batch holds MaxItems events (w:MaxElements;
// Windows' default is unbounded, the simulator uses 5000), until the next
// event would overflow MaxEnvelopeSize (UTF-16 bytes, 512000 by default),
// or until MaxTime (w:MaxTime) has passed since that first event; then it
// sends the batch with the bookmark of its last event. The delivery modes
// of a subscription only choose these values (and the heartbeat):
//
//	mode          MaxTime   Heartbeats   MaxItems
//	MinLatency    30 s      1 h          unbounded
//	Normal        15 min    15 min       unbounded
//	MinBandwidth  6 h       6 h          unbounded
//	Custom        as set    1 h          as set
//
// so a host that logs r events/s sends one batch of about r·MaxTime
// events every MaxTime (fewer, larger batches when MaxItems or the
// envelope is reached first). A Heartbeat is sent only when the host
// has sent nothing for a whole Heartbeats interval. A refused batch
// (5xx, connection failure) stays in the log and is retried with
// back-off up to ConnectionRetry's interval; 403/404 withdraw the
// subscription and the host enumerates again.
//
// Two departures from Windows, both for tests: a Log that says no more
// events will come (Drained) ends a batch at once instead of waiting out
// MaxTime, and HostConfig.MaxTime can shorten MaxTime to get a steady
// stream of small batches.
//
// Sources: MS-WSMV 3.1.4.1.30 (Events, Heartbeat), the delivery
// optimisation options of wecutil (Microsoft "Windows Event Collector"
// documentation), and the OpenWEC protocol notes.
//
// Fleet runs many hosts together and owns their goroutines. With
// HostConfig.Replay a host sends pre-built event bodies (shared by the
// hosts of one Bodies) after an envelope header built for each batch, so
// that a load driver costs little next to the collector it measures: a
// departure in content only (events repeat, and the compressed body is
// the header and the events as two SLDC segments, each opened by RESET_1,
// where Windows sends one), not in the batching model above.
package forwarder
