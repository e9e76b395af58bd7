package eventfile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"wefgate/wef/event"
)

const (
	securityProvider = "Microsoft-Windows-Security-Auditing"
	securityGUID     = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
	auditSuccess     = "0x8020000000000000"
	auditFailure     = "0x8010000000000000"
	systemPID        = 4
)

// Generate returns n synthetic Security events from host, as a forwarder
// sends them with ContentFormat=Raw, for load tests. The mix is what handle
// auditing produces: logons (4624), process starts and exits (4688, 4689),
// handle requests (4656), accesses (4663), duplications (4690) and closes
// (4658). Identifiers stay consistent: a handle is used, duplicated and
// closed by the process that opened it, a process exits only once its
// handles are closed, and EventRecordIDs increase by one. The same seed
// gives the same events.
func Generate(n int, host string, seed int64) []string {
	g := newGenerator(host, seed)
	out := make([]string, 0, max(n, 0))
	for range max(n, 0) {
		out = append(out, EventXML(g.next()))
	}
	return out
}

// The generator keeps the host's state within these bounds so that the
// cost per event stays flat however many events are asked for.
const (
	maxProcesses   = 48
	maxOpenHandles = 256
	maxLogons      = 32
)

type logon struct {
	sid, user, domain string
	id                uint64
}

type handle struct {
	id                   uint64
	objType, objName     string
	task                 uint16
	accessList, accessMk string
}

type process struct {
	pid        uint64
	image      string
	logon      *logon
	handles    []handle
	lastHandle uint64
}

// newHandle returns a handle value not yet used in the process; Windows
// hands out multiples of four.
func (p *process) newHandle(rng *rand.Rand) uint64 {
	if p.lastHandle == 0 {
		p.lastHandle = 0x100 + 4*uint64(rng.IntN(0x100))
	}
	p.lastHandle += 4 * uint64(1+rng.IntN(8))
	return p.lastHandle
}

type generator struct {
	rng       *rand.Rand
	host      string
	netbios   string
	clock     time.Time
	record    uint64
	logons    []*logon
	procs     []*process
	nextPID   uint64
	nextLogon uint64
}

func newGenerator(host string, seed int64) *generator {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	netbios := strings.ToUpper(strings.SplitN(host, ".", 2)[0])
	if netbios == "" {
		netbios = "HOST"
	}
	g := &generator{
		rng:       rng,
		host:      host,
		netbios:   netbios,
		clock:     time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(86400)) * time.Second),
		record:    1000 + uint64(rng.IntN(1_000_000)),
		nextPID:   0x200 + uint64(rng.IntN(0x100))*4,
		nextLogon: 0x1c0000 + uint64(rng.IntN(0x10000)),
	}
	system := &logon{sid: "S-1-5-18", user: netbios + "$", domain: "WORKGROUP", id: 0x3e7}
	g.logons = []*logon{system}
	for _, image := range []string{`C:\Windows\System32\services.exe`, `C:\Windows\System32\svchost.exe`, `C:\Windows\System32\lsass.exe`} {
		g.procs = append(g.procs, &process{pid: g.newPID(), image: image, logon: system})
	}
	return g
}

func (g *generator) newPID() uint64 {
	g.nextPID += 4 * uint64(1+g.rng.IntN(64))
	return g.nextPID
}

// next returns the next event, choosing among the actions the current
// state allows.
func (g *generator) next() *event.Event {
	g.clock = g.clock.Add(time.Duration(1+g.rng.IntN(40)) * time.Millisecond)
	var open []*process
	var idle []*process
	for _, p := range g.procs[3:] {
		if len(p.handles) > 0 {
			open = append(open, p)
		} else {
			idle = append(idle, p)
		}
	}
	for _, p := range g.procs[:3] {
		if len(p.handles) > 0 {
			open = append(open, p)
		}
	}
	handles := 0
	for _, p := range open {
		handles += len(p.handles)
	}
	roll := g.rng.IntN(100)
	switch {
	case len(g.procs) > maxProcesses && len(idle) > 0:
		return g.processExit(pick(g.rng, idle))
	case handles > maxOpenHandles:
		return g.handleClose(pick(g.rng, open))
	case roll < 4 || len(g.logons) == 1:
		return g.logon()
	case roll < 14 || len(g.procs) < 5:
		return g.processStart()
	case roll < 20 && len(idle) > 0:
		return g.processExit(pick(g.rng, idle))
	case roll < 45 || len(open) == 0:
		return g.handleRequest(pick(g.rng, g.procs))
	case roll < 65:
		return g.objectAccess(pick(g.rng, open))
	case roll < 78:
		return g.handleDuplicate(pick(g.rng, open))
	default:
		return g.handleClose(pick(g.rng, open))
	}
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

// base returns a Security event with the System part filled in.
func (g *generator) base(id uint32, version uint8, keywords string, task uint16) *event.Event {
	g.record++
	ev := &event.Event{
		Provider:    event.Provider{Name: securityProvider, GUID: securityGUID},
		EventID:     id,
		Version:     version,
		Task:        task,
		KeywordsRaw: keywords,
		TimeCreated: g.clock,
		SystemTime:  windowsTime(g.clock),
		RecordID:    g.record,
		HasRecordID: true,
		Execution:   event.Execution{ProcessID: systemPID, ThreadID: uint32(100 + 4*g.rng.IntN(2000)), HasProcessID: true},
		Channel:     "Security",
		Computer:    g.host,
	}
	return ev
}

func subjectData(l *logon) []event.Data {
	return []event.Data{
		{Name: "SubjectUserSid", Value: l.sid},
		{Name: "SubjectUserName", Value: l.user},
		{Name: "SubjectDomainName", Value: l.domain},
		{Name: "SubjectLogonId", Value: hex(l.id)},
	}
}

func (g *generator) logon() *event.Event {
	users := []string{"j.doe", "a.smith", "svc_backup", "m.garcia", "k.lee"}
	g.nextLogon += uint64(1 + g.rng.IntN(0x4000))
	l := &logon{
		sid:    fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1100+g.rng.IntN(400)),
		user:   pick(g.rng, users),
		domain: "CORP",
		id:     g.nextLogon,
	}
	if len(g.logons) == maxLogons {
		// Forget an old session (never the system one); processes that
		// run in it keep their copy.
		g.logons = slices.Delete(g.logons, 1, 2)
	}
	g.logons = append(g.logons, l)
	logonType := pick(g.rng, []string{"2", "3", "3", "3", "10"})
	ev := g.base(4624, 2, auditSuccess, securityTask(4624))
	ev.EventData = append(subjectData(g.logons[0]),
		event.Data{Name: "TargetUserSid", Value: l.sid},
		event.Data{Name: "TargetUserName", Value: l.user},
		event.Data{Name: "TargetDomainName", Value: l.domain},
		event.Data{Name: "TargetLogonId", Value: hex(l.id)},
		event.Data{Name: "LogonType", Value: logonType},
		event.Data{Name: "LogonProcessName", Value: "User32 "},
		event.Data{Name: "AuthenticationPackageName", Value: "Negotiate"},
		event.Data{Name: "WorkstationName", Value: g.netbios},
		event.Data{Name: "LogonGuid", Value: "{00000000-0000-0000-0000-000000000000}"},
		event.Data{Name: "TransmittedServices", Value: "-"},
		event.Data{Name: "LmPackageName", Value: "-"},
		event.Data{Name: "KeyLength", Value: "0"},
		event.Data{Name: "ProcessId", Value: hex(g.procs[0].pid)},
		event.Data{Name: "ProcessName", Value: `C:\Windows\System32\winlogon.exe`},
		event.Data{Name: "IpAddress", Value: fmt.Sprintf("10.20.%d.%d", g.rng.IntN(256), 1+g.rng.IntN(254))},
		event.Data{Name: "IpPort", Value: fmt.Sprint(49152 + g.rng.IntN(16384))},
		event.Data{Name: "ImpersonationLevel", Value: "%%1833"},
		event.Data{Name: "RestrictedAdminMode", Value: "-"},
		event.Data{Name: "TargetOutboundUserName", Value: "-"},
		event.Data{Name: "TargetOutboundDomainName", Value: "-"},
		event.Data{Name: "VirtualAccount", Value: "%%1843"},
		event.Data{Name: "TargetLinkedLogonId", Value: "0x0"},
		event.Data{Name: "ElevatedToken", Value: "%%1842"},
	)
	return ev
}

func (g *generator) processStart() *event.Event {
	images := []struct{ image, cmd string }{
		{`C:\Windows\System32\cmd.exe`, `cmd.exe /c whoami`},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `powershell.exe -NoProfile -Command "Get-Process"`},
		{`C:\Windows\System32\notepad.exe`, `notepad.exe C:\Users\Public\notes.txt`},
		{`C:\Windows\System32\rundll32.exe`, `rundll32.exe shell32.dll,Control_RunDLL`},
		{`C:\Program Files\Mozilla Firefox\firefox.exe`, `"C:\Program Files\Mozilla Firefox\firefox.exe" -osint -url https://example.com/?a=1&b=<2>`},
		{`C:\Windows\System32\taskmgr.exe`, `taskmgr.exe /7`},
	}
	parent := pick(g.rng, g.procs)
	l := parent.logon
	if len(g.logons) > 1 && g.rng.IntN(2) == 0 {
		l = pick(g.rng, g.logons[1:])
	}
	im := pick(g.rng, images)
	child := &process{pid: g.newPID(), image: im.image, logon: l}
	g.procs = append(g.procs, child)
	ev := g.base(4688, 2, auditSuccess, securityTask(4688))
	ev.EventData = append(subjectData(parent.logon),
		event.Data{Name: "NewProcessId", Value: hex(child.pid)},
		event.Data{Name: "NewProcessName", Value: child.image},
		event.Data{Name: "TokenElevationType", Value: pick(g.rng, []string{"%%1936", "%%1937", "%%1938"})},
		event.Data{Name: "ProcessId", Value: hex(parent.pid)},
		event.Data{Name: "CommandLine", Value: im.cmd},
		event.Data{Name: "TargetUserSid", Value: l.sid},
		event.Data{Name: "TargetUserName", Value: l.user},
		event.Data{Name: "TargetDomainName", Value: l.domain},
		event.Data{Name: "TargetLogonId", Value: hex(l.id)},
		event.Data{Name: "ParentProcessName", Value: parent.image},
		event.Data{Name: "MandatoryLabel", Value: pick(g.rng, []string{"S-1-16-8192", "S-1-16-12288", "S-1-16-16384"})},
	)
	return ev
}

func (g *generator) processExit(p *process) *event.Event {
	for i, q := range g.procs {
		if q == p {
			g.procs = append(g.procs[:i], g.procs[i+1:]...)
			break
		}
	}
	ev := g.base(4689, 0, auditSuccess, securityTask(4689))
	ev.EventData = append(subjectData(p.logon),
		event.Data{Name: "Status", Value: "0x0"},
		event.Data{Name: "ProcessId", Value: hex(p.pid)},
		event.Data{Name: "ProcessName", Value: p.image},
	)
	return ev
}

func (g *generator) handleRequest(p *process) *event.Event {
	objects := []handle{
		{objType: "File", objName: `C:\Users\Public\Documents\report-%d.docx`, task: 12800, accessList: "%%4416\n\t\t\t\t%%4419\n\t\t\t\t", accessMk: "0x9"},
		{objType: "File", objName: `C:\Windows\System32\config\SAM`, task: 12800, accessList: "%%1538\n\t\t\t\t%%4416\n\t\t\t\t", accessMk: "0x20001"},
		{objType: "Key", objName: `\REGISTRY\MACHINE\SOFTWARE\Contoso\App%d`, task: 12801, accessList: "%%4432\n\t\t\t\t", accessMk: "0x1"},
		{objType: "Process", objName: `\Device\HarddiskVolume2\Windows\System32\lsass.exe`, task: 12802, accessList: "%%4484\n\t\t\t\t", accessMk: "0x1010"},
	}
	h := pick(g.rng, objects)
	if strings.Contains(h.objName, "%d") {
		h.objName = fmt.Sprintf(h.objName, g.rng.IntN(100))
	}
	keywords := auditSuccess
	if g.rng.IntN(20) == 0 {
		keywords = auditFailure // denied: no handle is created
	} else {
		h.id = p.newHandle(g.rng)
		p.handles = append(p.handles, h)
	}
	ev := g.base(4656, 1, keywords, h.task)
	ev.EventData = append(subjectData(p.logon),
		event.Data{Name: "ObjectServer", Value: "Security"},
		event.Data{Name: "ObjectType", Value: h.objType},
		event.Data{Name: "ObjectName", Value: h.objName},
		event.Data{Name: "HandleId", Value: hex(h.id)},
		event.Data{Name: "TransactionId", Value: "{00000000-0000-0000-0000-000000000000}"},
		event.Data{Name: "AccessList", Value: h.accessList},
		event.Data{Name: "AccessReason", Value: "-"},
		event.Data{Name: "AccessMask", Value: h.accessMk},
		event.Data{Name: "PrivilegeList", Value: "-"},
		event.Data{Name: "RestrictedSidCount", Value: "0"},
		event.Data{Name: "ProcessId", Value: hex(p.pid)},
		event.Data{Name: "ProcessName", Value: p.image},
		event.Data{Name: "ResourceAttributes", Value: "-"},
	)
	return ev
}

func (g *generator) objectAccess(p *process) *event.Event {
	h := pick(g.rng, p.handles)
	ev := g.base(4663, 1, auditSuccess, h.task)
	ev.EventData = append(subjectData(p.logon),
		event.Data{Name: "ObjectServer", Value: "Security"},
		event.Data{Name: "ObjectType", Value: h.objType},
		event.Data{Name: "ObjectName", Value: h.objName},
		event.Data{Name: "HandleId", Value: hex(h.id)},
		event.Data{Name: "AccessList", Value: h.accessList},
		event.Data{Name: "AccessMask", Value: h.accessMk},
		event.Data{Name: "ProcessId", Value: hex(p.pid)},
		event.Data{Name: "ProcessName", Value: p.image},
		event.Data{Name: "ResourceAttributes", Value: "-"},
	)
	return ev
}

func (g *generator) handleDuplicate(p *process) *event.Event {
	h := pick(g.rng, p.handles)
	targetPID := uint64(systemPID)
	dup := h
	dup.id = 0x100 + 4*uint64(g.rng.IntN(0x1000)) // in System, not tracked
	if g.rng.IntN(10) == 0 {
		// Now and then the copy goes to another process, which owns and
		// later closes it.
		target := pick(g.rng, g.procs)
		targetPID = target.pid
		dup.id = target.newHandle(g.rng)
		target.handles = append(target.handles, dup)
	}
	ev := g.base(4690, 0, auditSuccess, securityTask(4690))
	ev.EventData = append(subjectData(p.logon),
		event.Data{Name: "SourceHandleId", Value: hex(h.id)},
		event.Data{Name: "SourceProcessId", Value: hex(p.pid)},
		event.Data{Name: "TargetHandleId", Value: hex(dup.id)},
		event.Data{Name: "TargetProcessId", Value: hex(targetPID)},
	)
	return ev
}

func (g *generator) handleClose(p *process) *event.Event {
	i := g.rng.IntN(len(p.handles))
	h := p.handles[i]
	p.handles = append(p.handles[:i], p.handles[i+1:]...)
	ev := g.base(4658, 0, auditSuccess, h.task)
	ev.EventData = append(subjectData(p.logon),
		event.Data{Name: "ObjectServer", Value: "Security"},
		event.Data{Name: "HandleId", Value: hex(h.id)},
		event.Data{Name: "ProcessId", Value: hex(p.pid)},
		event.Data{Name: "ProcessName", Value: p.image},
	)
	return ev
}
