package pipeline

import (
	"time"

	"wefgate/record"
	"wefgate/spool"
	"wefgate/wef/event"
)

// Position is where a delivery sits in the spool; every event of one
// delivery shares its Position.
type Position = spool.Position

// Staged is an event a Stage has released.
type Staged struct {
	Source Source
	Event  *event.Event
	Pos    Position
	// Export is false for an event the stage consumed (for example folded
	// into another one): it is released, so its position may be committed,
	// but not exported.
	Export bool
	// Attributes are extra attributes the stage adds to the record.
	Attributes []record.KV
	// Record, when set, is exported as it is instead of the mapping of
	// Event: a stage's own record, such as a summary of what it folded.
	Record *record.Record

	// group and index, when group is set, name the shared decoded entry
	// the event came from and its place there, so that its record is
	// mapped once for every exporter (PassThrough lanes only); Source and
	// Event are then left empty, the group holds them.
	group *group
	index int
}

// Stage sits between the spool and the exporters and may hold events back
// for a bounded time, for example to link related events. The shipper calls
// it from one goroutine. Every event passed to Add must eventually come out
// of Add, Tick or Flush; until then OldestPending must cover its position,
// because the shipper commits the spool only below it. The slice Add, Tick
// or Flush returns is valid until the next call of any of them (a stage
// may reuse it): the shipper copies what it keeps.
type Stage interface {
	// Add takes one event and returns whatever is ready now (possibly
	// including events held earlier).
	Add(now time.Time, src Source, ev *event.Event, pos Position) []Staged
	// Tick releases events whose holding time is over.
	Tick(now time.Time) []Staged
	// Flush releases everything, on shutdown.
	Flush() []Staged
	// OldestPending returns the lowest position still held, if any.
	OldestPending() (Position, bool)
}

// PassThrough is the Stage that exports every event at once and holds
// nothing.
type PassThrough struct{}

// Add releases ev immediately.
func (PassThrough) Add(_ time.Time, src Source, ev *event.Event, pos Position) []Staged {
	return []Staged{{Source: src, Event: ev, Pos: pos, Export: true}}
}

// Tick has nothing to release.
func (PassThrough) Tick(time.Time) []Staged { return nil }

// Flush has nothing to release.
func (PassThrough) Flush() []Staged { return nil }

// OldestPending reports that nothing is held.
func (PassThrough) OldestPending() (Position, bool) { return 0, false }
