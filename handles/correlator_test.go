package handles

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"wefgate/wef/event"
)

// Builders of synthetic Security events, rendered the way Windows sends
// them (unpadded lower-case hex).

func hx(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

func secEvent(id uint32, rec uint64, data ...string) *event.Event {
	ev := &event.Event{
		Provider:    event.Provider{Name: SecurityProvider},
		EventID:     id,
		Channel:     SecurityChannel,
		Computer:    "host1",
		Keywords:    event.KeywordAuditSuccess | 0x8000000000000000,
		RecordID:    rec,
		HasRecordID: rec != 0,
		TimeCreated: replayStart.Add(time.Duration(rec) * time.Millisecond),
		EventData:   make([]event.Data, 0, 2+len(data)/2),
	}
	ev.EventData = append(ev.EventData,
		event.Data{Name: "SubjectUserSid", Value: "S-1-5-18"},
		event.Data{Name: "SubjectLogonId", Value: "0x3e7"})
	for i := 0; i+1 < len(data); i += 2 {
		ev.EventData = append(ev.EventData, event.Data{Name: data[i], Value: data[i+1]})
	}
	return ev
}

func openEv(rec, pid, h uint64, objType, objName string, mask uint64, image string) *event.Event {
	return secEvent(4656, rec, "ObjectServer", "Security", "ObjectType", objType, "ObjectName", objName,
		"HandleId", hx(h), "AccessMask", hx(mask), "ProcessId", hx(pid), "ProcessName", image)
}

func accessEv(rec, pid, h uint64, objType, objName string, mask uint64, image string) *event.Event {
	ev := openEv(rec, pid, h, objType, objName, mask, image)
	ev.EventID = 4663
	return ev
}

func dupEv(rec, srcPID, srcH, tgtPID, tgtH uint64) *event.Event {
	return secEvent(4690, rec, "SourceHandleId", hx(srcH), "SourceProcessId", hx(srcPID),
		"TargetHandleId", hx(tgtH), "TargetProcessId", hx(tgtPID))
}

func closeEv(rec, pid, h uint64, image string) *event.Event {
	return secEvent(4658, rec, "ObjectServer", "Security", "HandleId", hx(h), "ProcessId", hx(pid), "ProcessName", image)
}

func deleteEv(rec, pid, h uint64, image string) *event.Event {
	ev := closeEv(rec, pid, h, image)
	ev.EventID = 4660
	return ev
}

func createdEv(rec, pid, parent uint64, image, parentImage string) *event.Event {
	return secEvent(4688, rec, "NewProcessId", hx(pid), "NewProcessName", image, "ProcessId", hx(parent),
		"ParentProcessName", parentImage)
}

func exitedEv(rec, pid uint64, image string) *event.Event {
	return secEvent(4689, rec, "Status", "0x0", "ProcessId", hx(pid), "ProcessName", image)
}

const (
	psImage   = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	lsassObj  = `\Device\HarddiskVolume2\Windows\System32\lsass.exe`
	lsassPath = `C:\Windows\System32\lsass.exe`
	tmImage   = `C:\Windows\System32\Taskmgr.exe`
	certKey   = `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT\Certificates`
)

// exportKey in a want map checks Output.Export instead of an attribute;
// absent asserts the attribute is missing.
const exportKey = "(export)"

type absent struct{}

func checkOutputs(t *testing.T, outs map[*event.Event]Output[int], evs []*event.Event, want map[int]map[string]any) {
	t.Helper()
	for i, checks := range want {
		o := outs[evs[i]]
		for k, w := range checks {
			var got any
			if k == exportKey {
				got = o.Export
			} else {
				got = attr(o, k)
				if _, ok := w.(absent); ok {
					if got != nil {
						t.Errorf("event %d (%d): %s = %#v, want absent", i, evs[i].EventID, k, got)
					}
					continue
				}
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("event %d (%d): %s = %#v, want %#v", i, evs[i].EventID, k, got, w)
			}
		}
	}
}

func TestCorrelatorLinking(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		events []*event.Event
		want   map[int]map[string]any
	}{{
		name: "4690 logged before its 4656, as 85% are",
		events: []*event.Event{
			dupEv(1, 0xf40, 0xb54, 4, 0x3058),
			closeEv(2, 0xf40, 0x3058, psImage),
			openEv(3, 0xf40, 0xb54, "Key", certKey, 0x20019, psImage),
			closeEv(4, 0xf40, 0xb54, psImage),
		},
		want: map[int]map[string]any{
			0: {exportKey: true, AttrStatus: StatusMatched, AttrRegistryPath: certKey, AttrProcessPath: psImage,
				AttrAccessRights:   []any{"KEY_QUERY_VALUE", "KEY_ENUMERATE_SUB_KEYS", "KEY_NOTIFY", "READ_CONTROL"},
				AttrTargetIsSystem: true, AttrFlags: absent{}},
			1: {exportKey: true, AttrStatus: StatusMatched, AttrLink: LinkDuplicate, AttrObjectName: certKey,
				AttrDuplicateRecordID: int64(1), AttrDuration: absent{}},
			2: {exportKey: false},
			3: {AttrStatus: StatusMatched, AttrLink: LinkOpen, AttrObjectType: "Key", AttrDuration: int64(time.Millisecond),
				AttrSubjectWellKnown: "SYSTEM", AttrSubjectLogonSession: "SYSTEM", AttrSubjectLogonID: int64(0x3e7)},
		},
	}, {
		name: "4656 logged before the 4690",
		events: []*event.Event{
			openEv(1, 0x500, 0x10, "File", `C:\x\secret.txt`, 0x120089, psImage),
			dupEv(2, 0x500, 0x10, 4, 0x900),
			closeEv(3, 0x500, 0x900, psImage),
			closeEv(4, 0x500, 0x10, psImage),
		},
		want: map[int]map[string]any{
			1: {AttrStatus: StatusMatched, AttrFilePath: `C:\x\secret.txt`, AttrFileName: "secret.txt", AttrOpenRecordID: int64(1)},
			2: {AttrStatus: StatusMatched, AttrLink: LinkDuplicate, AttrFilePath: `C:\x\secret.txt`, AttrDuration: int64(2 * time.Millisecond)},
			3: {AttrStatus: StatusMatched, AttrLink: LinkOpen, AttrDuration: int64(3 * time.Millisecond)},
		},
	}, {
		name: "System-side handle values reused: each close matches the most recent copy",
		events: []*event.Event{
			dupEv(1, 0x7a4, 0x1ac, 4, 0x138c),
			closeEv(2, 0x7a4, 0x138c, `C:\Windows\System32\drvinst.exe`),
			openEv(3, 0x7a4, 0x1ac, "Key", `\REGISTRY\A`, 0x3001f, `C:\Windows\System32\drvinst.exe`),
			closeEv(4, 0x7a4, 0x1ac, `C:\Windows\System32\drvinst.exe`),
			dupEv(5, 0x7a4, 0x1b0, 4, 0x138c),
			closeEv(6, 0x7a4, 0x138c, `C:\Windows\System32\drvinst.exe`),
			openEv(7, 0x7a4, 0x1b0, "Key", `\REGISTRY\B`, 0x3001f, `C:\Windows\System32\drvinst.exe`),
			closeEv(8, 0x7a4, 0x1b0, `C:\Windows\System32\drvinst.exe`),
		},
		want: map[int]map[string]any{
			0: {AttrObjectName: `\REGISTRY\A`},
			1: {AttrObjectName: `\REGISTRY\A`, AttrSourceHandleID: int64(0x1ac)},
			4: {AttrObjectName: `\REGISTRY\B`},
			5: {AttrObjectName: `\REGISTRY\B`, AttrSourceHandleID: int64(0x1b0)},
		},
	}, {
		name: "source handle value reused after its close: the 4690 waits for the next open",
		events: []*event.Event{
			openEv(1, 0x678, 0xaf8, "File", `C:\old`, 0x100001, `C:\s.exe`),
			closeEv(2, 0x678, 0xaf8, `C:\s.exe`),
			dupEv(3, 0x678, 0xaf8, 4, 0x1748),
			closeEv(4, 0x678, 0x1748, `C:\s.exe`),
			openEv(5, 0x678, 0xaf8, "File", `C:\new`, 0x100001, `C:\s.exe`),
		},
		want: map[int]map[string]any{
			2: {AttrObjectName: `C:\new`, AttrAccessRights: []any{"FILE_READ_DATA", "SYNCHRONIZE"}},
			3: {AttrObjectName: `C:\new`},
		},
	}, {
		name: "copy into a user process is closed under the target process",
		events: []*event.Event{
			createdEv(1, 0x270, 0x1000, tmImage, `C:\Windows\explorer.exe`),
			dupEv(2, 0x2e8, 0x254, 0x270, 0x9e0),
			closeEv(3, 0x270, 0x9e0, tmImage),
		},
		want: map[int]map[string]any{
			1: {AttrStatus: StatusUnmatched, AttrTargetPath: tmImage, AttrTargetName: "Taskmgr.exe",
				AttrTargetIsSystem: false, AttrFlags: []any{FlagDuplicateIntoUserProcess}},
			2: {AttrStatus: StatusPartial, AttrLink: LinkDuplicate, AttrTargetPID: int64(0x270), AttrTargetIsSystem: false},
		},
	}, {
		name: "duplication out of lsass",
		events: []*event.Event{
			createdEv(1, 0x2e8, 0x1f0, lsassPath, `C:\Windows\System32\wininit.exe`),
			openEv(2, 0x2e8, 0x254, "Process", lsassObj, 0x1fffff, lsassPath),
			dupEv(3, 0x2e8, 0x254, 0x270, 0x9e0),
		},
		want: map[int]map[string]any{
			2: {AttrStatus: StatusMatched, AttrProcessName: "lsass.exe", AttrParentPID: int64(0x1f0),
				AttrAccessRights: []any{"PROCESS_ALL_ACCESS"},
				AttrFlags:        []any{FlagLsassObject, FlagProcessMemoryRead, FlagDuplicateIntoUserProcess, FlagDuplicateFromLsass}},
		},
	}, {
		name: "a close of an unknown handle does not wait for a later open of the same value",
		events: []*event.Event{
			closeEv(1, 0x1a74, 0x3794, `C:\d.exe`),
			openEv(2, 0x1a74, 0x3794, "Process", lsassObj, 0x1fffff, `C:\d.exe`),
		},
		want: map[int]map[string]any{
			0: {AttrStatus: StatusUnmatched, AttrLink: absent{}, AttrObjectName: absent{}},
		},
	}, {
		name: "a failed request opens nothing",
		events: []*event.Event{
			func() *event.Event {
				ev := openEv(1, 0x10, 0x20, "File", `C:\Windows\System32\sethc.exe`, 0x10000, `C:\cmd.exe`)
				ev.Keywords = event.KeywordAuditFailure
				return ev
			}(),
			closeEv(2, 0x10, 0x20, `C:\cmd.exe`),
		},
		want: map[int]map[string]any{1: {AttrStatus: StatusUnmatched}},
	}, {
		name: "a 4663 stands in for a 4656 that was not seen",
		events: []*event.Event{
			dupEv(1, 0x10, 0x20, 4, 0x30),
			accessEv(2, 0x10, 0x20, "Process", lsassObj, 0x10, `C:\x.exe`),
			closeEv(3, 0x10, 0x20, `C:\x.exe`),
		},
		want: map[int]map[string]any{
			0: {AttrStatus: StatusMatched, AttrObjectName: lsassObj, AttrAccessMask: absent{}, AttrFlags: []any{FlagLsassObject}},
			2: {AttrStatus: StatusMatched, AttrDuration: absent{}},
		},
	}, {
		name: "4689 forgets the process",
		events: []*event.Event{
			createdEv(1, 0x44, 0x4, `C:\a.exe`, ""),
			exitedEv(2, 0x44, `C:\a.exe`),
			dupEv(3, 0x44, 0x8, 4, 0xc),
		},
		want: map[int]map[string]any{2: {AttrProcessPath: absent{}}},
	}, {
		name: "4660 is enriched and exported",
		events: []*event.Event{
			openEv(1, 0x1e0, 0xe9a9292e70, "SAM_USER", `DOMAINS\Account\Users\000003F0`, 0x10000, lsassPath),
			deleteEv(2, 0x1e0, 0xe9a9292e70, lsassPath),
			closeEv(3, 0x1e0, 0xe9a9292e70, lsassPath),
		},
		want: map[int]map[string]any{
			1: {exportKey: true, AttrStatus: StatusMatched, AttrAccessRights: []any{"DELETE"}, AttrHandleID: int64(0xe9a9292e70)},
			2: {AttrStatus: StatusMatched, AttrLink: LinkOpen},
		},
	}, {
		name: "ExportObjectDeleted false stops exporting 4660",
		cfg:  Config{ExportObjectDeleted: new(false)},
		events: []*event.Event{
			openEv(1, 0x1e0, 0x70, "SAM_USER", `DOMAINS\Account\Users\000003F0`, 0x10000, lsassPath),
			deleteEv(2, 0x1e0, 0x70, lsassPath),
		},
		want: map[int]map[string]any{1: {exportKey: false}},
	}, {
		name: "ExportHelperEvents exports decoded helpers",
		cfg:  Config{ExportHelperEvents: true},
		events: []*event.Event{
			openEv(1, 0x10, 0x20, "Process", lsassObj, 0x1010, `C:\m.exe`),
			accessEv(2, 0x10, 0x20, "Process", lsassObj, 0x10, `C:\m.exe`),
			createdEv(3, 0x11, 0x10, `C:\c.exe`, `C:\m.exe`),
		},
		want: map[int]map[string]any{
			0: {exportKey: true, AttrAccessRights: []any{"PROCESS_VM_READ", "PROCESS_QUERY_LIMITED_INFORMATION"},
				AttrFlags: []any{FlagLsassObject, FlagProcessMemoryRead}},
			1: {exportKey: true, AttrAccessRights: []any{"PROCESS_VM_READ"}, AttrOpened: absent{}},
			2: {exportKey: true, AttrParentPID: int64(0x10), AttrProcessName: "c.exe"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs, _ := replay(t, tt.cfg, tt.events)
			checkOutputs(t, outs, tt.events, tt.want)
		})
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		ev       *event.Event
		kind     EventKind
		handle   bool
		state    bool
		mutation func(*event.Event)
	}{
		{secEvent(4658, 1), KindHandleClosed, true, false, nil},
		{secEvent(4690, 1), KindHandleDuplicated, true, false, nil},
		{secEvent(4660, 1), KindObjectDeleted, false, true, nil},
		{secEvent(4656, 1), KindHandleRequested, false, true, nil},
		{secEvent(4661, 1), KindDirectoryHandleRequested, false, true, nil},
		{secEvent(4663, 1), KindObjectAccessed, false, true, nil},
		{secEvent(4688, 1), KindProcessCreated, false, true, nil},
		{secEvent(4689, 1), KindProcessExited, false, true, nil},
		{secEvent(4624, 1), KindOther, false, false, nil},
		// The Task of a 4658 is its object's subcategory; it must not matter.
		{secEvent(4658, 1), KindHandleClosed, true, false, func(e *event.Event) { e.Task = 12800 }},
		{secEvent(4658, 1), KindOther, false, false, func(e *event.Event) { e.Channel = "Application" }},
		{secEvent(4658, 1), KindOther, false, false, func(e *event.Event) { e.Provider.Name = "Other" }},
		{nil, KindOther, false, false, nil},
	}
	for _, tt := range tests {
		if tt.mutation != nil {
			tt.mutation(tt.ev)
		}
		if got := Kind(tt.ev); got != tt.kind {
			t.Errorf("Kind(%v) = %v, want %v", tt.ev, got, tt.kind)
		}
		if got := IsHandleEvent(tt.ev); got != tt.handle {
			t.Errorf("IsHandleEvent(%v) = %v", tt.ev, got)
		}
		if got := IsStateEvent(tt.ev); got != tt.state {
			t.Errorf("IsStateEvent(%v) = %v", tt.ev, got)
		}
	}
}

// noLateOpen turns the late-open extension off (not above ReorderTime).
const noLateOpen = time.Nanosecond

// loggedAt sets ev's TimeCreated to d after the replay start.
func loggedAt(ev *event.Event, d time.Duration) *event.Event {
	ev.TimeCreated = replayStart.Add(d)
	return ev
}

func TestReorderWindow(t *testing.T) {
	t0 := replayStart
	type add struct {
		at   time.Duration
		host string
		ev   *event.Event
	}
	tests := []struct {
		name string
		cfg  Config
		adds []add
		// tick, when set, is called after the adds.
		tick time.Duration
		// released lists, per call (adds then tick), the positions that
		// came out.
		released [][]int
		stats    func(Stats) bool
	}{{
		name: "released after ReorderRecords later events of its host (no late-open extension)",
		cfg:  Config{ReorderRecords: 2, LateOpenWait: noLateOpen},
		adds: []add{
			{0, "a", dupEv(0, 1, 2, 4, 3)},
			{0, "a", createdEv(0, 5, 1, `C:\x.exe`, "")},
			{0, "b", createdEv(0, 6, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(0, 7, 1, `C:\x.exe`, "")},
		},
		released: [][]int{nil, nil, {2}, {0, 1, 3}},
		stats:    func(s Stats) bool { return s.PendingExpired == 1 && s.Unmatched == 1 },
	}, {
		name: "released when its EventRecordID falls ReorderRecords behind (no late-open extension)",
		cfg:  Config{ReorderRecords: 100, LateOpenWait: noLateOpen},
		adds: []add{
			{0, "a", dupEv(10, 1, 2, 4, 3)},
			{0, "a", createdEv(50, 5, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(110, 6, 1, `C:\x.exe`, "")},
		},
		released: [][]int{nil, nil, {0, 1, 2}},
	}, {
		name: "record ids starting again after a log clear do not release waiting events",
		cfg:  Config{ReorderRecords: 100},
		adds: []add{
			{0, "a", createdEv(5000, 5, 1, `C:\x.exe`, "")},
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "a", createdEv(2, 6, 1, `C:\x.exe`, "")},
			{0, "a", openEv(3, 1, 2, "File", `C:\f`, 1, `C:\x.exe`)},
		},
		released: [][]int{{0}, nil, nil, {1, 2, 3}},
		stats:    func(s Stats) bool { return s.Matched == 1 && s.PendingExpired == 0 },
	}, {
		name: "released after ReorderTime by Add of any host (no late-open extension)",
		cfg:  Config{LateOpenWait: noLateOpen},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{DefaultReorderTime, "b", secEvent(4624, 1)},
		},
		released: [][]int{nil, {1, 0}},
	}, {
		name: "released after ReorderTime by Tick, each after its own ReorderTime (no late-open extension)",
		cfg:  Config{LateOpenWait: noLateOpen},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{time.Second, "a", closeEv(2, 1, 3, `C:\x.exe`)},
		},
		tick:     DefaultReorderTime + time.Second,
		released: [][]int{nil, nil, {0, 1}},
		stats:    func(s Stats) bool { return s.Unmatched == 1 && s.Partial == 1 && s.PendingExpired == 2 },
	}, {
		name: "an open logged after the window is still waited for",
		cfg:  Config{ReorderRecords: 2},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "a", closeEv(2, 1, 3, `C:\x.exe`)},
			{0, "a", createdEv(3, 5, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(4, 6, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(5, 7, 1, `C:\x.exe`, "")},
			{3 * time.Second, "a", openEv(6, 1, 2, "File", `C:\f`, 1, `C:\x.exe`)},
		},
		released: [][]int{nil, nil, nil, nil, nil, {0, 1, 2, 3, 4, 5}},
		stats: func(s Stats) bool {
			// The close waited behind the 4690, not at the front: one late wait.
			return s.Matched == 2 && s.PendingExpired == 0 && s.LateHeld == 1 && s.LateMatched == 1 &&
				s.LateWait == 3*time.Second && s.LateWaiting == 0
		},
	}, {
		name: "a late open is waited for LateOpenWait, then Tick releases",
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
		},
		tick:     5 * DefaultReorderTime,
		released: [][]int{nil, {0}},
		stats: func(s Stats) bool {
			return s.Unmatched == 1 && s.LateHeld == 1 && s.LateMatched == 0 && s.LateExpired == 1 && s.LateWait == 4*DefaultReorderTime
		},
	}, {
		name: "a late open is not waited for once the host logged LateOpenWait more",
		cfg:  Config{ReorderRecords: 2},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "a", createdEv(2, 5, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(3, 6, 1, `C:\x.exe`, "")},
			{0, "a", loggedAt(createdEv(4, 7, 1, `C:\x.exe`, ""), 5*DefaultReorderTime+time.Millisecond)},
		},
		released: [][]int{nil, nil, nil, {0, 1, 2, 3}},
		stats:    func(s Stats) bool { return s.Unmatched == 1 && s.LateHeld == 1 && s.LateWait == 0 },
	}, {
		name: "a late open is not waited for once the window is half full",
		cfg:  Config{ReorderRecords: 2, MaxPending: 8},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "a", createdEv(2, 5, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(3, 6, 1, `C:\x.exe`, "")},
			{0, "a", createdEv(4, 7, 1, `C:\x.exe`, "")},
		},
		released: [][]int{nil, nil, nil, {0, 1, 2, 3}},
		stats:    func(s Stats) bool { return s.Unmatched == 1 && s.LateHeld == 1 && s.PendingForced == 0 },
	}, {
		name: "Tick releases a host queued behind another host's late wait",
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{500 * time.Millisecond, "b", dupEv(1, 1, 2, 4, 3)},
			{600 * time.Millisecond, "b", loggedAt(createdEv(2, 5, 1, `C:\x.exe`, ""), 5*DefaultReorderTime+time.Millisecond)},
		},
		tick:     DefaultReorderTime + 600*time.Millisecond,
		released: [][]int{nil, nil, nil, {1, 2}},
		stats:    func(s Stats) bool { return s.Pending == 1 && s.LateWaiting == 1 && s.Unmatched == 1 },
	}, {
		name: "MaxPending releases the oldest early",
		cfg:  Config{MaxPending: 2},
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "b", dupEv(1, 1, 2, 4, 3)},
			{0, "c", dupEv(1, 1, 2, 4, 3)},
		},
		released: [][]int{nil, nil, {0}},
		stats:    func(s Stats) bool { return s.PendingForced == 1 && s.Pending == 2 },
	}, {
		name: "events of other kinds keep their place behind a waiting event of their host",
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "a", secEvent(4624, 2)},
			{0, "a", openEv(3, 1, 2, "File", `C:\f`, 1, `C:\x.exe`)},
		},
		released: [][]int{nil, nil, {0, 1, 2}},
	}, {
		name: "events of other kinds pass straight through when nothing waits",
		adds: []add{
			{0, "a", dupEv(1, 1, 2, 4, 3)},
			{0, "b", secEvent(4624, 2)},
		},
		released: [][]int{nil, {1}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCorrelator[int](tt.cfg)
			var got [][]int
			positions := func(outs []Output[int]) []int {
				var ps []int
				for _, o := range outs {
					ps = append(ps, o.Pos)
				}
				return ps
			}
			for i, a := range tt.adds {
				got = append(got, positions(c.Add(t0.Add(a.at), a.host, a.ev, i)))
			}
			if tt.tick != 0 {
				got = append(got, positions(c.Tick(t0.Add(tt.tick))))
			}
			if !reflect.DeepEqual(got, tt.released) {
				t.Errorf("released %v, want %v", got, tt.released)
			}
			if tt.stats != nil && !tt.stats(c.Stats()) {
				t.Errorf("stats %+v", c.Stats())
			}
		})
	}
}

func TestOldestPending(t *testing.T) {
	c := NewCorrelator[string](Config{})
	if _, ok := c.OldestPending(); ok {
		t.Fatal("new correlator has something pending")
	}
	c.Add(replayStart, "a", dupEv(1, 1, 2, 4, 3), "a1")
	if outs := c.Add(replayStart, "b", createdEv(1, 5, 1, `C:\x.exe`, ""), "b1"); len(outs) != 1 || outs[0].Pos != "b1" {
		t.Fatalf("host b's event held behind host a: %+v", outs)
	}
	if pos, ok := c.OldestPending(); !ok || pos != "a1" {
		t.Fatalf("OldestPending = %v, %v; want a1", pos, ok)
	}
	c.Add(replayStart, "a", closeEv(2, 1, 3, `C:\x.exe`), "a2")
	outs := c.Add(replayStart, "a", openEv(3, 1, 2, "File", `C:\f`, 1, `C:\x.exe`), "a3")
	if len(outs) != 3 || outs[0].Pos != "a1" || outs[1].Pos != "a2" || outs[2].Pos != "a3" {
		t.Fatalf("resolution released %+v", outs)
	}
	if _, ok := c.OldestPending(); ok {
		t.Fatal("still pending after resolution")
	}
}

func TestStateBounds(t *testing.T) {
	c := NewCorrelator[any](Config{MaxHandles: 3, MaxProcesses: 2, HandleMaxAge: time.Minute, ProcessMaxAge: time.Hour})
	for i := uint64(1); i <= 5; i++ {
		c.Add(replayStart, "a", openEv(i, 0x10*i, 0x20, "File", `C:\f`, 1, `C:\p`+strconv.FormatUint(i, 10)+`.exe`), nil)
	}
	s := c.Stats()
	if s.Handles != 3 || s.HandlesEvicted != 2 || s.Processes != 2 || s.ProcessesEvicted != 3 {
		t.Fatalf("after 5 opens: %+v", s)
	}
	// The evicted handle's close is no longer matched; a kept one is.
	outs := c.Add(replayStart, "a", closeEv(6, 0x10, 0x20, `C:\p1.exe`), nil)
	outs = append(outs, c.Add(replayStart, "a", closeEv(7, 0x50, 0x20, `C:\p5.exe`), nil)...)
	if len(outs) != 2 || attr(outs[0], AttrStatus) != StatusUnmatched || attr(outs[1], AttrStatus) != StatusMatched {
		t.Fatalf("closes: %+v", outs)
	}
	c.Tick(replayStart.Add(time.Minute))
	if s := c.Stats(); s.Handles != 0 || s.HandlesExpired != 2 || s.Processes != 2 {
		t.Fatalf("after a minute: %+v", s)
	}
	c.Tick(replayStart.Add(time.Hour))
	if s := c.Stats(); s.Processes != 0 || s.ProcessesExpired != 2 || s.Hosts != 0 {
		t.Fatalf("after an hour: %+v", s)
	}
}
