package winvalue

import (
	"math/bits"
	"strconv"
	"strings"
)

// Standard and generic access rights, common to every object type
// (winnt.h).
const (
	Delete               uint32 = 0x00010000
	ReadControl          uint32 = 0x00020000
	WriteDAC             uint32 = 0x00040000
	WriteOwner           uint32 = 0x00080000
	Synchronize          uint32 = 0x00100000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000
)

// Process-specific rights the detection logic looks at.
const (
	ProcessVMRead                  uint32 = 0x0010
	ProcessDupHandle               uint32 = 0x0040
	ProcessQueryLimitedInformation uint32 = 0x1000
	ProcessAllAccess               uint32 = 0x001FFFFF
)

// rightSet names the object-specific bits (0-15) of one object type and
// its *_ALL_ACCESS mask.
type rightSet struct {
	allName  string
	all      uint32
	specific [16]string
}

var standardRights = [...]struct {
	bit  uint32
	name string
}{
	{Delete, "DELETE"},
	{ReadControl, "READ_CONTROL"},
	{WriteDAC, "WRITE_DAC"},
	{WriteOwner, "WRITE_OWNER"},
	{Synchronize, "SYNCHRONIZE"},
	{AccessSystemSecurity, "ACCESS_SYSTEM_SECURITY"},
	{MaximumAllowed, "MAXIMUM_ALLOWED"},
	{GenericAll, "GENERIC_ALL"},
	{GenericExecute, "GENERIC_EXECUTE"},
	{GenericWrite, "GENERIC_WRITE"},
	{GenericRead, "GENERIC_READ"},
}

// Object types as the Security auditing events spell ObjectType. The names
// of the bits are Microsoft's constants (winnt.h, ntsam.h, winsvc.h).
var rightSets = map[string]*rightSet{
	"file": {allName: "FILE_ALL_ACCESS", all: 0x001F01FF, specific: [16]string{
		"FILE_READ_DATA", "FILE_WRITE_DATA", "FILE_APPEND_DATA", "FILE_READ_EA",
		"FILE_WRITE_EA", "FILE_EXECUTE", "FILE_DELETE_CHILD", "FILE_READ_ATTRIBUTES",
		"FILE_WRITE_ATTRIBUTES"}},
	"key": {allName: "KEY_ALL_ACCESS", all: 0x000F003F, specific: [16]string{
		"KEY_QUERY_VALUE", "KEY_SET_VALUE", "KEY_CREATE_SUB_KEY", "KEY_ENUMERATE_SUB_KEYS",
		"KEY_NOTIFY", "KEY_CREATE_LINK", "", "",
		"KEY_WOW64_64KEY", "KEY_WOW64_32KEY"}},
	"process": {allName: "PROCESS_ALL_ACCESS", all: ProcessAllAccess, specific: [16]string{
		"PROCESS_TERMINATE", "PROCESS_CREATE_THREAD", "PROCESS_SET_SESSIONID", "PROCESS_VM_OPERATION",
		"PROCESS_VM_READ", "PROCESS_VM_WRITE", "PROCESS_DUP_HANDLE", "PROCESS_CREATE_PROCESS",
		"PROCESS_SET_QUOTA", "PROCESS_SET_INFORMATION", "PROCESS_QUERY_INFORMATION", "PROCESS_SUSPEND_RESUME",
		"PROCESS_QUERY_LIMITED_INFORMATION", "PROCESS_SET_LIMITED_INFORMATION"}},
	"thread": {allName: "THREAD_ALL_ACCESS", all: 0x001FFFFF, specific: [16]string{
		"THREAD_TERMINATE", "THREAD_SUSPEND_RESUME", "THREAD_ALERT", "THREAD_GET_CONTEXT",
		"THREAD_SET_CONTEXT", "THREAD_SET_INFORMATION", "THREAD_QUERY_INFORMATION", "THREAD_SET_THREAD_TOKEN",
		"THREAD_IMPERSONATE", "THREAD_DIRECT_IMPERSONATION", "THREAD_SET_LIMITED_INFORMATION", "THREAD_QUERY_LIMITED_INFORMATION",
		"THREAD_RESUME"}},
	"token": {allName: "TOKEN_ALL_ACCESS", all: 0x000F01FF, specific: [16]string{
		"TOKEN_ASSIGN_PRIMARY", "TOKEN_DUPLICATE", "TOKEN_IMPERSONATE", "TOKEN_QUERY",
		"TOKEN_QUERY_SOURCE", "TOKEN_ADJUST_PRIVILEGES", "TOKEN_ADJUST_GROUPS", "TOKEN_ADJUST_DEFAULT",
		"TOKEN_ADJUST_SESSIONID"}},
	"directory": {allName: "DIRECTORY_ALL_ACCESS", all: 0x000F000F, specific: [16]string{
		"DIRECTORY_QUERY", "DIRECTORY_TRAVERSE", "DIRECTORY_CREATE_OBJECT", "DIRECTORY_CREATE_SUBDIRECTORY"}},
	"sam_server": {allName: "SAM_SERVER_ALL_ACCESS", all: 0x000F003F, specific: [16]string{
		"SAM_SERVER_CONNECT", "SAM_SERVER_SHUTDOWN", "SAM_SERVER_INITIALIZE", "SAM_SERVER_CREATE_DOMAIN",
		"SAM_SERVER_ENUMERATE_DOMAINS", "SAM_SERVER_LOOKUP_DOMAIN"}},
	"sam_domain": {allName: "DOMAIN_ALL_ACCESS", all: 0x000F07FF, specific: [16]string{
		"DOMAIN_READ_PASSWORD_PARAMETERS", "DOMAIN_WRITE_PASSWORD_PARAMS", "DOMAIN_READ_OTHER_PARAMETERS", "DOMAIN_WRITE_OTHER_PARAMETERS",
		"DOMAIN_CREATE_USER", "DOMAIN_CREATE_GROUP", "DOMAIN_CREATE_ALIAS", "DOMAIN_GET_ALIAS_MEMBERSHIP",
		"DOMAIN_LIST_ACCOUNTS", "DOMAIN_LOOKUP", "DOMAIN_ADMINISTER_SERVER"}},
	"sam_user": {allName: "USER_ALL_ACCESS", all: 0x000F07FF, specific: [16]string{
		"USER_READ_GENERAL", "USER_READ_PREFERENCES", "USER_WRITE_PREFERENCES", "USER_READ_LOGON",
		"USER_READ_ACCOUNT", "USER_WRITE_ACCOUNT", "USER_CHANGE_PASSWORD", "USER_FORCE_PASSWORD_CHANGE",
		"USER_LIST_GROUPS", "USER_READ_GROUP_INFORMATION", "USER_WRITE_GROUP_INFORMATION"}},
	"sam_group": {allName: "GROUP_ALL_ACCESS", all: 0x000F001F, specific: [16]string{
		"GROUP_READ_INFORMATION", "GROUP_WRITE_ACCOUNT", "GROUP_ADD_MEMBER", "GROUP_REMOVE_MEMBER",
		"GROUP_LIST_MEMBERS"}},
	"sam_alias": {allName: "ALIAS_ALL_ACCESS", all: 0x000F001F, specific: [16]string{
		"ALIAS_ADD_MEMBER", "ALIAS_REMOVE_MEMBER", "ALIAS_LIST_MEMBERS", "ALIAS_READ_INFORMATION",
		"ALIAS_WRITE_ACCOUNT"}},
	// Active Directory objects (4662): ObjectType is the schema class
	// GUID ("%{bf967aba-...}"), so they are looked up under "ds".
	"ds": {specific: [16]string{
		"ADS_RIGHT_DS_CREATE_CHILD", "ADS_RIGHT_DS_DELETE_CHILD", "ADS_RIGHT_ACTRL_DS_LIST", "ADS_RIGHT_DS_SELF",
		"ADS_RIGHT_DS_READ_PROP", "ADS_RIGHT_DS_WRITE_PROP", "ADS_RIGHT_DS_DELETE_TREE", "ADS_RIGHT_DS_LIST_OBJECT",
		"ADS_RIGHT_DS_CONTROL_ACCESS"}},
	"sc_manager object": {allName: "SC_MANAGER_ALL_ACCESS", all: 0x000F003F, specific: [16]string{
		"SC_MANAGER_CONNECT", "SC_MANAGER_CREATE_SERVICE", "SC_MANAGER_ENUMERATE_SERVICE", "SC_MANAGER_LOCK",
		"SC_MANAGER_QUERY_LOCK_STATUS", "SC_MANAGER_MODIFY_BOOT_CONFIG"}},
	"service object": {allName: "SERVICE_ALL_ACCESS", all: 0x000F01FF, specific: [16]string{
		"SERVICE_QUERY_CONFIG", "SERVICE_CHANGE_CONFIG", "SERVICE_QUERY_STATUS", "SERVICE_ENUMERATE_DEPENDENTS",
		"SERVICE_START", "SERVICE_STOP", "SERVICE_PAUSE_CONTINUE", "SERVICE_INTERROGATE",
		"SERVICE_USER_DEFINED_CONTROL"}},
}

func lookupRightSet(objectType string) (*rightSet, bool) {
	if rs, ok := rightSets[objectType]; ok {
		return rs, true
	}
	if strings.HasPrefix(objectType, "%{") {
		return rightSets["ds"], true
	}
	rs, ok := rightSets[strings.ToLower(objectType)]
	return rs, ok
}

// AccessRights names the rights in an access mask the way Windows names
// them for objectType (the ObjectType field: "File", "Key", "Process",
// "Thread", "Token", "SAM_DOMAIN", "SERVICE OBJECT", an Active Directory
// class GUID "%{...}", ...). The same bit
// means different things for different types (0x10 is PROCESS_VM_READ on a
// Process but FILE_WRITE_EA on a File), which is why the type is required.
//
// When the mask holds the type's whole *_ALL_ACCESS set, that one name
// replaces its members. Object-specific bits of an unknown type, and bits
// with no name, come out as hex ("0x4000") so no granted right is hidden.
// Names are in ascending bit order; a zero mask yields nil.
func AccessRights(objectType string, mask uint32) []string {
	if mask == 0 {
		return nil
	}
	rs, known := lookupRightSet(objectType)
	out := make([]string, 0, bits.OnesCount32(mask))
	if known && rs.all != 0 && mask&rs.all == rs.all {
		out = append(out, rs.allName)
		mask &^= rs.all
	}
	for specific := mask & 0xFFFF; specific != 0; specific &= specific - 1 {
		bit := bits.TrailingZeros32(specific)
		if known && rs.specific[bit] != "" {
			out = append(out, rs.specific[bit])
			continue
		}
		out = append(out, "0x"+strconv.FormatUint(uint64(1)<<bit, 16))
	}
	named := uint32(0xFFFF)
	for _, r := range standardRights {
		named |= r.bit
		if mask&r.bit != 0 {
			out = append(out, r.name)
		}
	}
	for rest := mask &^ named; rest != 0; rest &= rest - 1 {
		out = append(out, "0x"+strconv.FormatUint(uint64(1)<<bits.TrailingZeros32(rest), 16))
	}
	return out
}
