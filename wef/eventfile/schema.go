package eventfile

import (
	"time"
)

// dataField is one EventData item of a known event schema; since is the
// event version that introduced it.
type dataField struct {
	name  string
	since uint8
}

// schemaFields returns the EventData items, in the order Windows writes
// them, of the Security events the gateway cares about (Microsoft's event
// documentation), or nil for an event it does not know.
func schemaFields(eventID uint32) []dataField {
	var rest []dataField
	switch eventID {
	case 4656: // a handle to an object was requested
		rest = []dataField{{"ObjectServer", 0}, {"ObjectType", 0}, {"ObjectName", 0}, {"HandleId", 0},
			{"TransactionId", 0}, {"AccessList", 0}, {"AccessReason", 1}, {"AccessMask", 0},
			{"PrivilegeList", 0}, {"RestrictedSidCount", 0}, {"ProcessId", 0}, {"ProcessName", 0},
			{"ResourceAttributes", 1}}
	case 4658: // the handle to an object was closed
		rest = []dataField{{"ObjectServer", 0}, {"HandleId", 0}, {"ProcessId", 0}, {"ProcessName", 0}}
	case 4660: // an object was deleted
		rest = []dataField{{"ObjectServer", 0}, {"HandleId", 0}, {"ProcessId", 0}, {"ProcessName", 0},
			{"TransactionId", 0}}
	case 4661: // a handle to a SAM or directory object was requested
		rest = []dataField{{"ObjectServer", 0}, {"ObjectType", 0}, {"ObjectName", 0}, {"HandleId", 0},
			{"TransactionId", 0}, {"AccessList", 0}, {"AccessMask", 0}, {"PrivilegeList", 0},
			{"Properties", 0}, {"RestrictedSidCount", 0}, {"ProcessId", 0}, {"ProcessName", 0}}
	case 4663: // an attempt was made to access an object
		rest = []dataField{{"ObjectServer", 0}, {"ObjectType", 0}, {"ObjectName", 0}, {"HandleId", 0},
			{"AccessList", 0}, {"AccessMask", 0}, {"ProcessId", 0}, {"ProcessName", 0},
			{"ResourceAttributes", 1}}
	case 4673: // a privileged service was called
		rest = []dataField{{"ObjectServer", 0}, {"Service", 0}, {"PrivilegeList", 0}, {"ProcessId", 0},
			{"ProcessName", 0}}
	case 4674: // an operation was attempted on a privileged object
		rest = []dataField{{"ObjectServer", 0}, {"ObjectType", 0}, {"ObjectName", 0}, {"HandleId", 0},
			{"AccessMask", 0}, {"PrivilegeList", 0}, {"ProcessId", 0}, {"ProcessName", 0}}
	case 4688: // a new process has been created
		rest = []dataField{{"NewProcessId", 0}, {"NewProcessName", 0}, {"TokenElevationType", 0},
			{"ProcessId", 0}, {"CommandLine", 1}, {"TargetUserSid", 2}, {"TargetUserName", 2},
			{"TargetDomainName", 2}, {"TargetLogonId", 2}, {"ParentProcessName", 2}, {"MandatoryLabel", 2}}
	case 4689: // a process has exited
		rest = []dataField{{"Status", 0}, {"ProcessId", 0}, {"ProcessName", 0}}
	case 4690: // an attempt was made to duplicate a handle to an object
		rest = []dataField{{"SourceHandleId", 0}, {"SourceProcessId", 0}, {"TargetHandleId", 0},
			{"TargetProcessId", 0}}
	case 4624: // an account was successfully logged on
		rest = []dataField{{"TargetUserSid", 0}, {"TargetUserName", 0}, {"TargetDomainName", 0},
			{"TargetLogonId", 0}, {"LogonType", 0}, {"LogonProcessName", 0},
			{"AuthenticationPackageName", 0}, {"WorkstationName", 0}, {"LogonGuid", 0},
			{"TransmittedServices", 0}, {"LmPackageName", 0}, {"KeyLength", 0}, {"ProcessId", 0},
			{"ProcessName", 0}, {"IpAddress", 0}, {"IpPort", 0}, {"ImpersonationLevel", 1},
			{"RestrictedAdminMode", 2}, {"RemoteCredentialGuard", 3}, {"TargetOutboundUserName", 2},
			{"TargetOutboundDomainName", 2}, {"VirtualAccount", 2}, {"TargetLinkedLogonId", 2},
			{"ElevatedToken", 2}}
	default:
		return nil
	}
	subject := []dataField{{"SubjectUserSid", 0}, {"SubjectUserName", 0}, {"SubjectDomainName", 0}, {"SubjectLogonId", 0}}
	return append(subject, rest...)
}

// securityTask is the System/Task Windows writes for the events Generate
// makes (audit subcategory ids).
func securityTask(eventID uint32) uint16 {
	switch eventID {
	case 4656, 4658, 4663:
		return 12800 // File System; 4658 takes its object's subcategory
	case 4690:
		return 12807 // Handle Manipulation
	case 4688:
		return 13312 // Process Creation
	case 4689:
		return 13313 // Process Termination
	case 4624:
		return 12544 // Logon
	}
	return 0
}

// windowsTime formats t as Windows writes TimeCreated@SystemTime.
func windowsTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}
