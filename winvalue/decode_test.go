package winvalue

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestHex(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0x1e20", 0x1e20, true},
		{"0x0000000000001e20", 0x1e20, true},
		{"0x0000000000001E20", 0x1e20, true},
		{"0X4", 4, true},
		{" 0x3e7\n", 0x3e7, true},
		{"0xffffffffffffffff", ^uint64(0), true},
		{"0x10000000000000000", 0, false},
		{"1234", 1234, true},
		{"", 0, false},
		{"0x", 0, false},
		{"-", 0, false},
		{"0xg1", 0, false},
		{"12a", 0, false},
	}
	for _, tt := range tests {
		got, ok := Hex(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Hex(%q) = %#x, %v; want %#x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzHex(f *testing.F) {
	for _, s := range []string{"0x1e20", "0x0000000000001E20", "4", "", "0x", "0xffffffffffffffff", "18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Hex(s)
		trimmed := strings.TrimSpace(s)
		base, digits := 10, trimmed
		if len(trimmed) > 2 && trimmed[0] == '0' && (trimmed[1] == 'x' || trimmed[1] == 'X') {
			base, digits = 16, trimmed[2:]
		}
		// strconv accepts signs and underscores that Windows never renders.
		if strings.ContainsAny(digits, "+-_") {
			if ok {
				t.Fatalf("Hex(%q) accepted a sign or underscore", s)
			}
			return
		}
		want, err := strconv.ParseUint(digits, base, 64)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("Hex(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}

func TestAccessRights(t *testing.T) {
	tests := []struct {
		objectType string
		mask       uint32
		want       []string
	}{
		{"Process", 0x1010, []string{"PROCESS_VM_READ", "PROCESS_QUERY_LIMITED_INFORMATION"}},
		{"process", 0x1410, []string{"PROCESS_VM_READ", "PROCESS_QUERY_INFORMATION", "PROCESS_QUERY_LIMITED_INFORMATION"}},
		{"Process", 0x1fffff, []string{"PROCESS_ALL_ACCESS"}},
		{"Process", 0x40, []string{"PROCESS_DUP_HANDLE"}},
		{"File", 0x120089, []string{"FILE_READ_DATA", "FILE_READ_EA", "FILE_READ_ATTRIBUTES", "READ_CONTROL", "SYNCHRONIZE"}},
		{"File", 0x100001, []string{"FILE_READ_DATA", "SYNCHRONIZE"}},
		{"File", 0x6, []string{"FILE_WRITE_DATA", "FILE_APPEND_DATA"}},
		{"Key", 0x20019, []string{"KEY_QUERY_VALUE", "KEY_ENUMERATE_SUB_KEYS", "KEY_NOTIFY", "READ_CONTROL"}},
		{"Key", 0x3001f, []string{"KEY_QUERY_VALUE", "KEY_SET_VALUE", "KEY_CREATE_SUB_KEY", "KEY_ENUMERATE_SUB_KEYS", "KEY_NOTIFY", "DELETE", "READ_CONTROL"}},
		{"Key", 0xf003f, []string{"KEY_ALL_ACCESS"}},
		{"Thread", 0x1800, []string{"THREAD_QUERY_LIMITED_INFORMATION", "THREAD_RESUME"}},
		{"Token", 0xa, []string{"TOKEN_DUPLICATE", "TOKEN_QUERY"}},
		{"SAM_DOMAIN", 0x211, []string{"DOMAIN_READ_PASSWORD_PARAMETERS", "DOMAIN_CREATE_USER", "DOMAIN_LOOKUP"}},
		{"SAM_USER", 0x60030, []string{"USER_READ_ACCOUNT", "USER_WRITE_ACCOUNT", "READ_CONTROL", "WRITE_DAC"}},
		{"SAM_ALIAS", 0xf, []string{"ALIAS_ADD_MEMBER", "ALIAS_REMOVE_MEMBER", "ALIAS_LIST_MEMBERS", "ALIAS_READ_INFORMATION"}},
		{"SERVICE OBJECT", 0x14, []string{"SERVICE_QUERY_STATUS", "SERVICE_START"}},
		{"%{bf967aba-0de6-11d0-a285-00aa003049e2}", 0x100, []string{"ADS_RIGHT_DS_CONTROL_ACCESS"}},
		{"%{19195a5a-6da0-11d0-afd3-00c04fd930c9}", 0x20014, []string{"ADS_RIGHT_ACTRL_DS_LIST", "ADS_RIGHT_DS_READ_PROP", "READ_CONTROL"}},
		{"Mutant", 0x100001, []string{"0x1", "SYNCHRONIZE"}},
		{"Key", 0x80, []string{"0x80"}},
		{"File", 0x82000000, []string{"MAXIMUM_ALLOWED", "GENERIC_READ"}},
		{"File", 0x04000000, []string{"0x4000000"}},
		{"File", 0, nil},
	}
	for _, tt := range tests {
		got := AccessRights(tt.objectType, tt.mask)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("AccessRights(%q, %#x) = %q; want %q", tt.objectType, tt.mask, got, tt.want)
		}
	}
}

func TestSIDName(t *testing.T) {
	tests := []struct {
		sid, want string
		ok        bool
	}{
		{"S-1-5-18", "SYSTEM", true},
		{"s-1-5-19", "LOCAL SERVICE", true},
		{"S-1-5-20", "NETWORK SERVICE", true},
		{"S-1-5-32-544", "Administrators", true},
		{"S-1-5-21-477444970-2264162048-1418806404-500", "Administrator", true},
		{"S-1-5-21-4230534742-2542757381-3142984815-1111", "", false},
		{"S-1-5-21-1-500", "", false},
		{"S-1-16-16384", "System Mandatory Level", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := SIDName(tt.sid)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SIDName(%q) = %q, %v; want %q, %v", tt.sid, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLogonIDName(t *testing.T) {
	tests := []struct {
		id   uint64
		want string
		ok   bool
	}{
		{0x3e7, "SYSTEM", true},
		{0x3e4, "NETWORK SERVICE", true},
		{0x3e5, "LOCAL SERVICE", true},
		{0x3e6, "ANONYMOUS LOGON", true},
		{0xe922e, "", false},
	}
	for _, tt := range tests {
		got, ok := LogonIDName(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LogonIDName(%#x) = %q, %v; want %q, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkAccessRights(b *testing.B) {
	for b.Loop() {
		AccessRights("Process", 0x1410)
	}
}

// FuzzAccessRights checks that the names always describe exactly the mask:
// mapping every name back to its bits gives the mask again.
func FuzzAccessRights(f *testing.F) {
	for _, s := range []struct {
		objectType string
		mask       uint32
	}{{"Process", 0x1010}, {"File", 0x120089}, {"Key", 0xf003f}, {"SAM_SERVER", 0xf01ff}, {"Mutant", 0x100001}, {"", 0xffffffff}, {"%{19195a5a-6da0-11d0-afd3-00c04fd930c9}", 0x1ff}} {
		f.Add(s.objectType, s.mask)
	}
	f.Fuzz(func(t *testing.T, objectType string, mask uint32) {
		var back uint32
		for _, name := range AccessRights(objectType, mask) {
			bit, ok := rightBits(objectType, name)
			if !ok {
				t.Fatalf("AccessRights(%q, %#x): %q names nothing", objectType, mask, name)
			}
			if back&bit != 0 {
				t.Fatalf("AccessRights(%q, %#x): %q repeats bits %#x", objectType, mask, name, back&bit)
			}
			back |= bit
		}
		if back != mask {
			t.Fatalf("AccessRights(%q, %#x) names %#x", objectType, mask, back)
		}
	})
}

// rightBits is the inverse of AccessRights for one name.
func rightBits(objectType, name string) (uint32, bool) {
	if strings.HasPrefix(name, "0x") {
		v, err := strconv.ParseUint(name[2:], 16, 32)
		return uint32(v), err == nil
	}
	for _, r := range standardRights {
		if r.name == name {
			return r.bit, true
		}
	}
	rs, ok := lookupRightSet(objectType)
	if !ok {
		return 0, false
	}
	if rs.all != 0 && name == rs.allName {
		return rs.all, true
	}
	for bit, n := range rs.specific {
		if n == name {
			return 1 << bit, true
		}
	}
	return 0, false
}
