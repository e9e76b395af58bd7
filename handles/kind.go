package handles

import (
	"strings"

	"wefgate/wef/event"
)

// Provider and channel of every event this package looks at.
const (
	SecurityProvider = "Microsoft-Windows-Security-Auditing"
	SecurityChannel  = "Security"
)

// EventKind classifies a Security audit event by its role in the handle
// lifecycle.
type EventKind uint8

const (
	// KindOther is any event this package does not use.
	KindOther EventKind = iota
	// KindHandleClosed is 4658 "The handle to an object was closed".
	KindHandleClosed
	// KindHandleDuplicated is 4690 "An attempt was made to duplicate a
	// handle to an object".
	KindHandleDuplicated
	// KindObjectDeleted is 4660 "An object was deleted".
	KindObjectDeleted
	// KindHandleRequested is 4656 "A handle to an object was requested".
	KindHandleRequested
	// KindObjectAccessed is 4663 "An attempt was made to access an object".
	KindObjectAccessed
	// KindProcessCreated is 4688 "A new process has been created".
	KindProcessCreated
	// KindProcessExited is 4689 "A process has exited".
	KindProcessExited
	// KindDirectoryHandleRequested is 4661 "A handle to an object was
	// requested" for SAM and directory-service objects: the 4656 of
	// lsass's own objects, closed by 4658 like any other.
	KindDirectoryHandleRequested
)

// Kind classifies ev. Only EventID decides: 4658 carries the Task of the
// object's audit subcategory (File System, Registry, ...), never Handle
// Manipulation, so routing on Task would lose most closes.
func Kind(ev *event.Event) EventKind {
	if ev == nil || !strings.EqualFold(ev.Channel, SecurityChannel) ||
		!strings.EqualFold(ev.Provider.Name, SecurityProvider) {
		return KindOther
	}
	switch ev.EventID {
	case 4658:
		return KindHandleClosed
	case 4690:
		return KindHandleDuplicated
	case 4660:
		return KindObjectDeleted
	case 4656:
		return KindHandleRequested
	case 4663:
		return KindObjectAccessed
	case 4688:
		return KindProcessCreated
	case 4689:
		return KindProcessExited
	case 4661:
		return KindDirectoryHandleRequested
	}
	return KindOther
}

// String returns the event id the kind stands for ("4658"), or "other".
func (k EventKind) String() string {
	switch k {
	case KindHandleClosed:
		return "4658"
	case KindHandleDuplicated:
		return "4690"
	case KindObjectDeleted:
		return "4660"
	case KindHandleRequested:
		return "4656"
	case KindObjectAccessed:
		return "4663"
	case KindProcessCreated:
		return "4688"
	case KindProcessExited:
		return "4689"
	case KindDirectoryHandleRequested:
		return "4661"
	}
	return "other"
}

// IsHandleEvent reports whether ev is one of the Handle Manipulation
// events this package enriches: 4658 or 4690.
func IsHandleEvent(ev *event.Event) bool {
	k := Kind(ev)
	return k == KindHandleClosed || k == KindHandleDuplicated
}

// IsStateEvent reports whether ev is one of the helper events of the
// enriched subscription that feed the correlator's state: 4656, 4663,
// 4660, 4688, 4689, and 4661 (the 4656 of SAM and directory objects). (4660 is both: it updates nothing but is enriched and
// exported like 4658, because it has the same missing object name.)
func IsStateEvent(ev *event.Event) bool {
	switch Kind(ev) {
	case KindHandleRequested, KindObjectAccessed, KindObjectDeleted, KindProcessCreated, KindProcessExited,
		KindDirectoryHandleRequested:
		return true
	}
	return false
}
