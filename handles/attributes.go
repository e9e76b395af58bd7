package handles

import (
	"strconv"
	"strings"
	"time"

	"wefgate/record"
	"wefgate/wef/event"
	"wefgate/winvalue"
)

// Enrichment attribute keys. doc.go explains each one.
const (
	AttrStatus = "winlog.handle.enrichment.status"
	AttrLink   = "winlog.handle.enrichment.link"

	AttrHandleID = "winlog.handle.id"

	AttrObjectType        = "winlog.handle.object.type"
	AttrObjectName        = "winlog.handle.object.name"
	AttrFilePath          = "file.path"
	AttrFileName          = "file.name"
	AttrRegistryPath      = "registry.path"
	AttrObjectProcessPath = "winlog.handle.object.process.executable"
	AttrObjectProcessName = "winlog.handle.object.process.name"

	AttrAccessMask   = "winlog.handle.access.mask"
	AttrAccessRights = "winlog.handle.access.rights"
	AttrOpened       = "winlog.handle.opened"
	AttrOpenRecordID = "winlog.handle.open.record_id"
	AttrDuration     = "winlog.handle.duration"

	AttrProcessPath       = "process.executable.path"
	AttrProcessName       = "process.executable.name"
	AttrParentPID         = "process.parent.pid"
	AttrParentPath        = "process.parent.executable.path"
	AttrSourceHandleID    = "winlog.handle.source.id"
	AttrTargetHandleID    = "winlog.handle.target.id"
	AttrTargetPID         = "winlog.handle.target.process.pid"
	AttrTargetPath        = "winlog.handle.target.process.executable"
	AttrTargetName        = "winlog.handle.target.process.name"
	AttrTargetIsSystem    = "winlog.handle.target.is_system"
	AttrDuplicateRecordID = "winlog.handle.duplicate.record_id"

	AttrSubjectWellKnown    = "winlog.handle.subject.well_known"
	AttrSubjectLogonID      = "winlog.handle.subject.logon_id"
	AttrSubjectLogonSession = "winlog.handle.subject.logon_session"

	AttrFlags = "winlog.handle.flags"
	AttrNoise = "winlog.handle.noise"
)

// Values of AttrStatus.
const (
	// StatusMatched: the object behind the handle is known.
	StatusMatched = "matched"
	// StatusPartial: a 4658/4660 closed a duplicated copy whose 4690 was
	// seen but whose source open was not, so the duplication is known but
	// not the object.
	StatusPartial = "partial"
	// StatusUnmatched: no partner was found inside the window.
	StatusUnmatched = "unmatched"
)

// Values of AttrLink.
const (
	LinkOpen      = "open"
	LinkDuplicate = "duplicate"
)

// Detection flags (values of AttrFlags).
const (
	// FlagLsassObject: the handle is to the lsass.exe process.
	FlagLsassObject = "lsass_object"
	// FlagProcessMemoryRead: the handle is to a process and grants
	// PROCESS_VM_READ (directly, or through PROCESS_ALL_ACCESS,
	// GENERIC_READ or GENERIC_ALL).
	FlagProcessMemoryRead = "process_memory_read"
	// FlagDuplicateIntoUserProcess: a 4690 copied the handle into a
	// process other than System (PID 4), which auditing itself never does.
	FlagDuplicateIntoUserProcess = "duplicate_into_user_process"
	// FlagDuplicateFromLsass: a 4690 copied a handle out of lsass.exe.
	FlagDuplicateFromLsass = "duplicate_from_lsass"
)

// systemPID is the System process, the target of audit by-product copies.
const systemPID = 4

// attrs appends attributes, skipping empty and "-" values the way Windows
// renders "nothing".
type attrs struct{ list []record.KV }

func (a *attrs) add(key string, value any) {
	a.list = append(a.list, record.KV{Key: key, Value: value})
}

func (a *attrs) str(key, value string) {
	if value != "" && value != "-" {
		a.add(key, value)
	}
}

func (a *attrs) num(key string, v uint64) { a.add(key, int64(v)) }

// baseName is the last element of a Windows path.
func baseName(path string) string {
	if i := strings.LastIndexAny(path, `\/`); i >= 0 {
		return path[i+1:]
	}
	return path
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func isLsassImage(path string) bool {
	return hasSuffixFold(path, `\lsass.exe`) || strings.EqualFold(path, "lsass.exe")
}

// objectFlags are the flags the object behind a handle raises.
func objectFlags(obj *object, flags []any) []any {
	if obj == nil || !strings.EqualFold(obj.objectType, "Process") {
		return flags
	}
	if isLsassImage(obj.objectName) {
		flags = append(flags, FlagLsassObject)
	}
	const readRights = winvalue.ProcessVMRead | winvalue.GenericRead | winvalue.GenericAll
	if obj.hasMask && obj.mask&readRights != 0 {
		flags = append(flags, FlagProcessMemoryRead)
	}
	return flags
}

// object appends the attributes of the object behind a handle, built once
// per open.
func (a *attrs) object(obj *object) {
	if obj.attrs == nil {
		b := attrs{list: make([]record.KV, 0, 10)}
		b.buildObject(obj)
		obj.attrs = b.list
	}
	a.list = append(a.list, obj.attrs...)
}

func (a *attrs) buildObject(obj *object) {
	a.str(AttrObjectType, obj.objectType)
	a.str(AttrObjectName, obj.objectName)
	if obj.objectName != "" && obj.objectName != "-" {
		switch strings.ToLower(obj.objectType) {
		case "file":
			a.add(AttrFilePath, obj.objectName)
			a.str(AttrFileName, baseName(obj.objectName))
		case "key":
			a.add(AttrRegistryPath, obj.objectName)
		case "process":
			a.add(AttrObjectProcessPath, obj.objectName)
			a.str(AttrObjectProcessName, baseName(obj.objectName))
		}
	}
	if obj.hasMask {
		a.add(AttrAccessMask, "0x"+strconv.FormatUint(uint64(obj.mask), 16))
		if rights := winvalue.AccessRights(obj.objectType, obj.mask); len(rights) > 0 {
			a.add(AttrAccessRights, stringsToAny(rights))
		}
	}
	if !obj.opened.IsZero() {
		a.add(AttrOpened, obj.opened.UTC().Format(time.RFC3339Nano))
	}
	if obj.hasRecordID {
		a.num(AttrOpenRecordID, obj.openRecordID)
	}
}

// duration adds how long the handle was open, in nanoseconds as ECS
// event.duration is, when both ends carry a time.
func (a *attrs) duration(obj *object, closed time.Time) {
	if obj == nil || obj.opened.IsZero() || closed.IsZero() || closed.Before(obj.opened) {
		return
	}
	a.add(AttrDuration, closed.Sub(obj.opened).Nanoseconds())
}

func (a *attrs) subject(ev *event.Event) {
	if sid, ok := ev.DataValue("SubjectUserSid"); ok {
		if name, ok := winvalue.SIDName(sid); ok {
			a.add(AttrSubjectWellKnown, name)
		}
	}
	if v, ok := ev.DataValue("SubjectLogonId"); ok {
		if id, ok := winvalue.Hex(v); ok {
			a.num(AttrSubjectLogonID, id)
			if name, ok := winvalue.LogonIDName(id); ok {
				a.add(AttrSubjectLogonSession, name)
			}
		}
	}
}

func (a *attrs) flags(flags []any) {
	if len(flags) > 0 {
		a.add(AttrFlags, flags)
	}
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func dataHex(ev *event.Event, name string) (uint64, bool) {
	v, ok := ev.DataValue(name)
	if !ok {
		return 0, false
	}
	return winvalue.Hex(v)
}

func dataString(ev *event.Event, name string) string {
	v, _ := ev.DataValue(name)
	return v
}
