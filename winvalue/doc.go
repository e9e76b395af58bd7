// Package decode turns the numeric fields of Windows Security audit events
// into something a person can read: hex handle and process ids into
// numbers, access masks into the right names Windows uses for the object
// type, and well-known SIDs and logon ids into their account names.
//
// Every function accepts the renderings seen in practice: Windows/WEF
// ("0x1e20"), python-evtx ("0x0000000000001e20"), upper or lower case, and
// 32- or 64-bit widths.
package winvalue
