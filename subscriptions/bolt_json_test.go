package subscriptions

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAppendHostStateJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 22, 8, 45, 123456789, time.UTC)
	plus2 := time.FixedZone("", 2*3600)
	tests := []struct {
		name string
		st   HostState
		fast bool
	}{
		{"full", HostState{Identity: "ws01.example.test", SubscriptionID: "649E6365-23E4-5BA6-B1F4-0F67683ACE54", Subscription: "load",
			MachineID: "ws01.example.test", Address: "127.1.0.1", FirstSeen: at, LastSeen: at.In(plus2), LastHeartbeat: at, LastEvent: at, Events: 42, Node: "n1"}, true},
		{"omitted", HostState{Identity: "ws01", SubscriptionID: "s", Address: "127.0.0.1", FirstSeen: at, LastSeen: at}, true},
		{"zero", HostState{}, true},
		{"escaped", HostState{Identity: `a"b<c>&d\e`, Subscription: "é\u2028"}, false},
		{"year out of range", HostState{Identity: "ws01", FirstSeen: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := json.Marshal(&tt.st)
			got, ok := appendHostStateJSON([]byte("prefix"), &tt.st)
			if ok != tt.fast {
				t.Fatalf("ok = %v, want %v", ok, tt.fast)
			}
			if !ok {
				return
			}
			if wantErr != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("got %s\nwant prefix%s (%v)", got, want, wantErr)
			}
		})
	}
}

// FuzzHostStateJSON checks that whenever appendHostStateJSON encodes a
// state, its bytes are exactly json.Marshal's, so the stored format stays
// what `wefgate hosts` and older versions read.
func FuzzHostStateJSON(f *testing.F) {
	f.Add("ws01.example.test", "649E6365-23E4-5BA6-B1F4-0F67683ACE54", "load", "", "127.1.0.1", "n1", int64(1795000000123456789), int64(0), 7200, uint64(42))
	f.Add(`a"<`, "", "é", "m", "::1", "", int64(-62135596800000000000/1000), int64(5), -3600*25, uint64(0))
	f.Fuzz(func(t *testing.T, id, subID, sub, machine, addr, node string, first, last int64, offset int, events uint64) {
		zone := time.FixedZone("", offset)
		st := HostState{Identity: id, SubscriptionID: subID, Subscription: sub, MachineID: machine, Address: addr, Node: node,
			FirstSeen: time.Unix(0, first).In(zone), LastSeen: time.Unix(0, last), Events: events}
		if first%3 == 0 {
			st.LastHeartbeat = st.FirstSeen
		}
		if last%2 == 0 {
			st.LastEvent = st.LastSeen.In(zone)
		}
		got, ok := appendHostStateJSON(nil, &st)
		if !ok {
			return
		}
		want, err := json.Marshal(&st)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s (%v)", got, want, err)
		}
	})
}
