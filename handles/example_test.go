package handles_test

import (
	"fmt"
	"time"

	"wefgate/handles"
	"wefgate/wef/event"
)

func securityEvent(id uint32, rec uint64, data ...string) *event.Event {
	ev := &event.Event{
		Provider: event.Provider{Name: handles.SecurityProvider},
		EventID:  id, Channel: handles.SecurityChannel, Computer: "ws1.example.test",
		RecordID: rec, HasRecordID: true, Keywords: event.KeywordAuditSuccess,
	}
	for i := 0; i+1 < len(data); i += 2 {
		ev.EventData = append(ev.EventData, event.Data{Name: data[i], Value: data[i+1]})
	}
	return ev
}

// A 4690 arrives before the 4656 of the handle it duplicates, as most do:
// it is held until the open arrives, then both come out, the 4690 enriched.
func ExampleCorrelator() {
	c := handles.NewCorrelator[int](handles.Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const tool = `C:\Users\eve\dump.exe`

	var outs []handles.Output[int]
	for pos, ev := range []*event.Event{
		securityEvent(4690, 100, "SourceHandleId", "0x2a8", "SourceProcessId", "0x1f44",
			"TargetHandleId", "0x1a0c", "TargetProcessId", "0x4"),
		securityEvent(4656, 101, "ObjectType", "Process",
			"ObjectName", `\Device\HarddiskVolume3\Windows\System32\lsass.exe`,
			"HandleId", "0x2a8", "AccessMask", "0x1410", "ProcessId", "0x1f44", "ProcessName", tool),
	} {
		outs = append(outs, c.Add(now, ev.Computer, ev, pos)...)
	}
	for _, o := range outs {
		fmt.Printf("%d export=%v\n", o.Event.EventID, o.Export)
		for _, kv := range o.Attributes {
			switch kv.Key {
			case handles.AttrStatus, handles.AttrProcessName, handles.AttrObjectProcessName,
				handles.AttrAccessRights, handles.AttrTargetIsSystem, handles.AttrFlags:
				fmt.Printf("  %s = %v\n", kv.Key, kv.Value)
			}
		}
	}
	// Output:
	// 4690 export=true
	//   winlog.handle.enrichment.status = matched
	//   process.executable.name = dump.exe
	//   winlog.handle.target.is_system = true
	//   winlog.handle.object.process.name = lsass.exe
	//   winlog.handle.access.rights = [PROCESS_VM_READ PROCESS_QUERY_INFORMATION PROCESS_QUERY_LIMITED_INFORMATION]
	//   winlog.handle.flags = [lsass_object process_memory_read]
	// 4656 export=false
}
