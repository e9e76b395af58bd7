// Package handles enriches the Windows Handle Manipulation audit events,
// 4658 "The handle to an object was closed" and 4690 "An attempt was made
// to duplicate a handle to an object", and 4660 "An object was deleted",
// with what they leave out: the object, the access granted, the processes
// involved and how long the handle was open.
//
// On their own these events carry hex numbers only. A 4658 or 4660 names a
// process and a handle, never the object; a 4690 names four numbers
// (source and target process and handle) and nothing else. The missing
// facts are in the helper events of the same subscription: 4656 (and 4661
// for SAM and directory objects) opens a handle and names the object and
// the access mask, 4663 shows a handle in use, 4688 and 4689 start and end
// processes. Kind, IsHandleEvent and IsStateEvent select these events by
// EventID alone; Task is never used, because a 4658 carries the Task of its
// object's audit subcategory.
//
// # Correlator
//
// A Correlator keeps, per host, the open handles (by process id and handle
// value), the copies made by 4690s, and the running processes, and links
// each 4658, 4660 and 4690 to them:
//
//   - A 4658 or 4660 is linked to the most recent open of its (process,
//     handle). Handle values are reused, so a close never waits for a later
//     open of the same value. A 4658 ends the handle; a 4660 does not,
//     since the 4658 closing the deleted object's handle follows it.
//   - A 4690 is linked to the open of its source (process, handle). Windows
//     logs most 4690s before that 4656 (when an audited handle is created,
//     the kernel first copies it into the System process, then logs the
//     open), so the 4690 waits in a reorder window for it.
//   - The close of a copy made into System (PID 4) is logged under the
//     source process, not under PID 4; a copy made into any other process
//     is closed under that process. Each 4690 therefore registers its copy
//     under the (process, handle) its close will carry, replacing any older
//     copy there, since System reuses its handle values at once.
//   - Process images come from 4688, and from the ProcessName of every
//     handle event; 4689 forgets a process.
//
// The reorder window is measured in log order: an event that waits is
// released, enriched with what is known, once Config.ReorderRecords later
// events of its host arrived or its EventRecordID fell that far behind, or
// after Config.ReorderTime, whichever comes first (ReorderTime is checked on
// every Add and Tick, so Tick must be called regularly). An event whose
// open is still unknown then (a 4690, or the close of its copy) waits on
// for an open logged late, up to Config.LateOpenWait (5 × ReorderTime) of
// its host's log or of holding, and only while the window is less than
// half full; Stats counts these waits (LateHeld, LateMatched, LateWait).
// Windows logs the open late when the opening process is pre-empted: a
// 4656 logged 1,423 records (5 s) after its 4690 was seen. Flush releases
// everything at shutdown. Events of one host leave in the order they were
// added; OldestPending tells a caller which position it may commit up to.
// Time is always passed in, never read from a clock.
//
// State is bounded: Config.MaxHandles (open handles and copies),
// Config.MaxProcesses and Config.MaxPending are hard limits that evict the
// oldest entry, and Config.HandleMaxAge and Config.ProcessMaxAge expire
// stale state. Stats reports sizes and every eviction.
//
// # Noise control
//
// With Handle Manipulation auditing on, every audited open adds a 4690 into
// PID 4 and the 4658 closing that copy: a by-product of auditing, not a
// duplication anyone asked for. Config.Noise can tag (NoiseTag) or drop
// (NoiseDrop) these pairs when the object matches a NoiseRule. Pairs that
// raised a detection flag are never treated as noise. Counts per host,
// image and object type are kept (NoiseCounts) and emitted by Tick and
// Flush as summary Outputs, to be exported as records named
// NoiseSummaryEventName.
//
// # Attributes
//
// Output.Attributes are meant to be appended to the attributes the record
// mapping derives from the event itself (event.code, process.pid in
// decimal, process.executable.path from ProcessName, user.*), which they
// never repeat. Ids are decimal int64; times are RFC 3339 strings in UTC.
//
//	attribute                                on                  meaning
//	winlog.handle.enrichment.status          4658 4660 4690      matched: the object is known; partial:
//	                                                             a copy's close whose 4690 was seen but
//	                                                             not the source open; unmatched: no
//	                                                             partner
//	winlog.handle.enrichment.link            4658 4660           open: linked to the handle's own open;
//	                                                             duplicate: the handle is the copy a
//	                                                             4690 made
//	winlog.handle.id                         4658 4660           HandleId
//	winlog.handle.object.type                all                 ObjectType of the open (File, Key,
//	                                                             Process, SAM_USER, ...)
//	winlog.handle.object.name                all                 ObjectName of the open
//	file.path                                all                 ObjectName, for File objects
//	file.name                                all                 its last element
//	registry.path                            all                 ObjectName, for Key objects
//	winlog.handle.object.process.executable  all                 ObjectName, for Process objects (the
//	                                                             process the handle is to)
//	winlog.handle.object.process.name        all                 its last element, e.g. lsass.exe
//	winlog.handle.access.mask                all                 AccessMask granted by the open, hex
//	                                                             ("0x1010")
//	winlog.handle.access.rights              all                 that mask as Windows right names for
//	                                                             the object type (PROCESS_VM_READ,
//	                                                             KEY_QUERY_VALUE, FILE_READ_DATA, ...)
//	winlog.handle.opened                     all                 TimeCreated of the open
//	winlog.handle.open.record_id             all                 EventRecordID of the open
//	winlog.handle.duration                   4658 4660           nanoseconds from the open to this event
//	                                                             (when the open came first)
//	process.executable.path                  4690                image of the source process (the
//	                                                             duplicating process)
//	process.executable.name                  all                 last element of the process image
//	process.parent.pid                       4690                parent of the source process, from its
//	                                                             4688
//	process.parent.executable.path           4690                image of that parent
//	winlog.handle.source.id                  4658 4690           SourceHandleId (on a copy's close: the
//	                                                             handle it copied)
//	winlog.handle.target.id                  4690                TargetHandleId
//	winlog.handle.target.process.pid         4658 4690           TargetProcessId
//	winlog.handle.target.process.executable  4690                image of the target process, when known
//	winlog.handle.target.process.name        4690                its last element; "System" for PID 4
//	winlog.handle.target.is_system           4658 4690           the copy went into the System process
//	                                                             (PID 4)
//	winlog.handle.duplicate.record_id        4658 4660           EventRecordID of the 4690 that made the
//	                                                             closed copy
//	winlog.handle.subject.well_known         all                 name of a well-known SubjectUserSid
//	                                                             (S-1-5-18: SYSTEM, ...)
//	winlog.handle.subject.logon_id           all                 SubjectLogonId as a number
//	winlog.handle.subject.logon_session      all                 name of a built-in logon session
//	                                                             (0x3e7: SYSTEM, 0x3e4: NETWORK SERVICE,
//	                                                             0x3e5: LOCAL SERVICE)
//	winlog.handle.flags                      all                 detection flags, see below
//	winlog.handle.noise                      4658 4690           true on an audit by-product pair tagged
//	                                                             by NoiseTag
//
// "all" means 4658, 4660 and 4690 when the object is known, and the helper
// events (decoded from their own fields) when Config.ExportHelperEvents is
// set. The object attributes of a 4690 describe the object behind its
// source handle; those of a copy's 4658 the same object.
//
// Detection flags (winlog.handle.flags):
//
//	lsass_object                 the handle is to the lsass.exe process
//	process_memory_read          the handle is to a process and grants PROCESS_VM_READ (or all access,
//	                             GENERIC_READ, GENERIC_ALL)
//	duplicate_into_user_process  a 4690 copied the handle into a process other than System
//	duplicate_from_lsass         a 4690 copied a handle out of lsass.exe
//
// Summary Outputs carry host.name, process.executable.path (the image),
// winlog.handle.object.type, winlog.handle.noise.duplicates,
// winlog.handle.noise.closes, winlog.handle.noise.mode and
// winlog.handle.noise.period.start/end.
//
// # Example
//
// A real 4690 (mimikatz reading lsass memory, logged before the 4656 of its
// source handle) and the attributes the correlator adds to it:
//
//	4690  SourceProcessId 0x1e20  SourceHandleId 0x274  TargetProcessId 0x4  TargetHandleId 0x11c0
//	      SubjectLogonId 0xe922e
//
//	winlog.handle.enrichment.status = matched
//	process.executable.path = C:\TOOLS\Security_tool\Mimikatz-fev-2020\mimikatz.exe
//	process.executable.name = mimikatz.exe
//	winlog.handle.source.id = 628
//	winlog.handle.target.id = 4544
//	winlog.handle.target.process.pid = 4
//	winlog.handle.target.process.name = System
//	winlog.handle.target.is_system = true
//	winlog.handle.object.type = Process
//	winlog.handle.object.name = \Device\HarddiskVolume4\Windows\System32\lsass.exe
//	winlog.handle.object.process.executable = \Device\HarddiskVolume4\Windows\System32\lsass.exe
//	winlog.handle.object.process.name = lsass.exe
//	winlog.handle.access.mask = 0x1010
//	winlog.handle.access.rights = [PROCESS_VM_READ PROCESS_QUERY_LIMITED_INFORMATION]
//	winlog.handle.opened = 2021-03-26T16:36:00.829033Z
//	winlog.handle.open.record_id = 9217076
//	winlog.handle.subject.logon_id = 954926
//	winlog.handle.flags = [lsass_object process_memory_read]
//
// The 4658 logged right after it (ProcessId 0x1e20, HandleId 0x11c0) closes
// the System-side copy and gets the same object, rights and flags, with
// winlog.handle.enrichment.link = duplicate.
package handles
