package subscriptions

import "time"

// Liveness of a host on a subscription, as Windows collectors report it.
const (
	// Active: an Events batch within the heartbeat interval.
	Active = "active"
	// Alive: only heartbeats within the heartbeat interval.
	Alive = "alive"
	// Dead: nothing within the heartbeat interval.
	Dead = "dead"
)

// Liveness classifies a host state at now, given the subscription's
// heartbeat interval (a host sends a heartbeat when it had no event to
// send for that long, so silence beyond it means trouble). A small grace
// covers delivery and clock jitter.
func Liveness(st HostState, heartbeat time.Duration, now time.Time) string {
	window := heartbeat + heartbeat/10 + time.Minute
	switch {
	case !st.LastEvent.IsZero() && now.Sub(st.LastEvent) <= window:
		return Active
	case now.Sub(st.LastSeen) <= window:
		return Alive
	default:
		return Dead
	}
}
