package winvalue

import "strings"

// wellKnownSIDs are the fixed SIDs that show up as subjects and targets in
// Security events (Microsoft "Well-known SIDs").
var wellKnownSIDs = map[string]string{
	"S-1-0-0":      "NULL SID",
	"S-1-1-0":      "Everyone",
	"S-1-2-0":      "LOCAL",
	"S-1-3-0":      "CREATOR OWNER",
	"S-1-3-1":      "CREATOR GROUP",
	"S-1-5-1":      "DIALUP",
	"S-1-5-2":      "NETWORK",
	"S-1-5-3":      "BATCH",
	"S-1-5-4":      "INTERACTIVE",
	"S-1-5-6":      "SERVICE",
	"S-1-5-7":      "ANONYMOUS LOGON",
	"S-1-5-9":      "ENTERPRISE DOMAIN CONTROLLERS",
	"S-1-5-10":     "SELF",
	"S-1-5-11":     "Authenticated Users",
	"S-1-5-12":     "RESTRICTED",
	"S-1-5-13":     "TERMINAL SERVER USER",
	"S-1-5-14":     "REMOTE INTERACTIVE LOGON",
	"S-1-5-15":     "This Organization",
	"S-1-5-17":     "IUSR",
	"S-1-5-18":     "SYSTEM",
	"S-1-5-19":     "LOCAL SERVICE",
	"S-1-5-20":     "NETWORK SERVICE",
	"S-1-5-32-544": "Administrators",
	"S-1-5-32-545": "Users",
	"S-1-5-32-546": "Guests",
	"S-1-5-32-547": "Power Users",
	"S-1-5-32-548": "Account Operators",
	"S-1-5-32-549": "Server Operators",
	"S-1-5-32-550": "Print Operators",
	"S-1-5-32-551": "Backup Operators",
	"S-1-5-32-552": "Replicators",
	"S-1-5-32-555": "Remote Desktop Users",
	"S-1-5-32-562": "Distributed COM Users",
	"S-1-5-32-573": "Event Log Readers",
	"S-1-5-32-580": "Remote Management Users",
	"S-1-16-0":     "Untrusted Mandatory Level",
	"S-1-16-4096":  "Low Mandatory Level",
	"S-1-16-8192":  "Medium Mandatory Level",
	"S-1-16-8448":  "Medium Plus Mandatory Level",
	"S-1-16-12288": "High Mandatory Level",
	"S-1-16-16384": "System Mandatory Level",
	"S-1-16-20480": "Protected Process Mandatory Level",
}

// wellKnownRIDs are the fixed relative ids of domain and machine accounts
// (S-1-5-21-<domain>-<rid>).
var wellKnownRIDs = map[string]string{
	"500": "Administrator",
	"501": "Guest",
	"502": "krbtgt",
	"512": "Domain Admins",
	"513": "Domain Users",
	"514": "Domain Guests",
	"515": "Domain Computers",
	"516": "Domain Controllers",
	"517": "Cert Publishers",
	"518": "Schema Admins",
	"519": "Enterprise Admins",
	"520": "Group Policy Creator Owners",
	"521": "Read-only Domain Controllers",
	"525": "Protected Users",
}

// SIDName names a well-known SID ("S-1-5-18" is "SYSTEM") or the
// well-known account of a domain SID ("S-1-5-21-…-500" is
// "Administrator"). Other SIDs report false: their names are only known to
// the domain.
func SIDName(sid string) (string, bool) {
	sid = strings.TrimSpace(sid)
	if name, ok := wellKnownSIDs[strings.ToUpper(sid)]; ok {
		return name, true
	}
	const domainPrefix = "S-1-5-21-"
	if len(sid) > len(domainPrefix) && strings.EqualFold(sid[:len(domainPrefix)], domainPrefix) {
		// A domain SID has three sub-authorities before the RID.
		parts := strings.Split(sid[len(domainPrefix):], "-")
		if len(parts) == 4 {
			if name, ok := wellKnownRIDs[parts[3]]; ok {
				return name, true
			}
		}
	}
	return "", false
}

// Logon ids (LUIDs) of the built-in logon sessions.
const (
	LogonIDSystem         uint64 = 0x3e7
	LogonIDNetworkService uint64 = 0x3e4
	LogonIDLocalService   uint64 = 0x3e5
	LogonIDAnonymous      uint64 = 0x3e6
)

// LogonIDName names the built-in logon sessions: 0x3e7 SYSTEM, 0x3e4
// NETWORK SERVICE, 0x3e5 LOCAL SERVICE, 0x3e6 ANONYMOUS LOGON.
func LogonIDName(id uint64) (string, bool) {
	switch id {
	case LogonIDSystem:
		return "SYSTEM", true
	case LogonIDNetworkService:
		return "NETWORK SERVICE", true
	case LogonIDLocalService:
		return "LOCAL SERVICE", true
	case LogonIDAnonymous:
		return "ANONYMOUS LOGON", true
	}
	return "", false
}
