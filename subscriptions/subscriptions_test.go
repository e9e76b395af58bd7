package subscriptions

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"wefgate/wef/soap"
)

func normalized(t *testing.T, d Definition) *Definition {
	t.Helper()
	if err := d.Normalize(); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestVersionIsDeterministicAndSensitive(t *testing.T) {
	auth := soap.Auth{Profile: soap.ProfileMutual, IssuerThumbprint: "ABCD"}
	base := normalized(t, Definition{Name: "handles"})
	v := base.Offer("https://wec:5986", auth, "").Version
	if again := normalized(t, Definition{Name: "handles"}).Offer("https://wec:5986", auth, "").Version; again != v {
		t.Fatalf("same definition, versions %s and %s", v, again)
	}
	// The bookmark is per host, not part of the subscription.
	if bm := base.Offer("https://wec:5986", auth, "<BookmarkList/>").Version; bm != v {
		t.Errorf("bookmark changed the version")
	}
	// Thumbprint case is not a change.
	if lc := base.Offer("https://wec:5986", soap.Auth{Profile: soap.ProfileMutual, IssuerThumbprint: "abcd"}, "").Version; lc != v {
		t.Errorf("thumbprint case changed the version")
	}
	changes := map[string]func(d *Definition){
		"query":        func(d *Definition) { d.XPath = "*" },
		"format":       func(d *Definition) { d.ContentFormat = FormatRenderedText },
		"delivery":     func(d *Definition) { d.Delivery = DeliveryNormal },
		"heartbeat":    func(d *Definition) { d.HeartbeatInterval = 2 * time.Hour },
		"read":         func(d *Definition) { d.ReadExistingEvents = true },
		"locale":       func(d *Definition) { d.Locale = "de-DE" },
		"compression":  func(d *Definition) { d.Compression = "none" },
		"envelope":     func(d *Definition) { d.MaxEnvelopeSize = 256000 },
		"revision":     func(d *Definition) { d.Revision = "abc" },
		"allowed only": nil,
	}
	for name, change := range changes {
		d := Definition{Name: "handles"}
		if change != nil {
			change(&d)
		}
		got := normalized(t, d).Offer("https://wec:5986", auth, "").Version
		if change == nil {
			d.AllowedHosts = []string{"win*"}
			if got2 := normalized(t, d).Offer("https://wec:5986", auth, "").Version; got2 != v {
				t.Errorf("host filter changed the version")
			}
			continue
		}
		if got == v {
			t.Errorf("%s: version did not change", name)
		}
	}
	if other := base.Offer("https://wec2:5986", auth, "").Version; other == v {
		t.Error("delivery address change kept the version")
	}
}

func TestOffer(t *testing.T) {
	d := normalized(t, Definition{Name: "handles", Delivery: DeliveryCustom, MaxTime: 5 * time.Second, MaxItems: 10})
	s := d.Offer("http://wec:5985/", soap.Auth{Profile: soap.ProfileKerberos}, "")
	if s.Address != "http://wec:5985/wsman/subscriptions/"+d.ID || s.MaxTime != 5*time.Second || s.MaxElements != 10 || s.Compression != "SLDC" {
		t.Fatalf("offer %+v", s)
	}
	if d.ID != normalized(t, Definition{Name: "handles"}).ID {
		t.Error("derived id is not stable")
	}
	if d.ID == normalized(t, Definition{Name: "other"}).ID {
		t.Error("different names, same id")
	}
}

func TestAdmits(t *testing.T) {
	d := normalized(t, Definition{Name: "a", AllowedHosts: []string{"*.corp.example", "WIN*$@CORP.EXAMPLE"}, DeniedHosts: []string{"dc*"}})
	for id, want := range map[string]bool{
		"host1.corp.example": true, "HOST1.CORP.EXAMPLE": true, "dc01.corp.example": false,
		"win10$@corp.example": true, "srv$@corp.example": false, "other.example": false,
		"web/x.corp.example": true,
	} {
		if got := d.Admits(id); got != want {
			t.Errorf("Admits(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestBoltStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	sub := "28FCC206-1336-4E4A-B76B-18B0AB46E585"
	at := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	bm := `<BookmarkList><Bookmark Channel="Security" RecordId="7" IsCurrent="true"/></BookmarkList>`
	if err := s.CommitBatch(ctx, bm, Contact{Identity: "WIN10$@CORP.EXAMPLE", SubscriptionID: sub, Subscription: "h", Address: "10.0.0.1", At: at, Events: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, "", Contact{Identity: "win10$@corp.example", SubscriptionID: sub, Address: "10.0.0.2", At: at.Add(time.Minute), Heartbeat: true}); err != nil {
		t.Fatal(err)
	}
	// Concurrent batches from many hosts share transactions and lose none.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.CommitBatch(ctx, fmt.Sprintf("<BookmarkList>%d</BookmarkList>", i), Contact{Identity: fmt.Sprintf("h%d", i), SubscriptionID: sub, At: at, Events: 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Bookmark(ctx, "Win10$@Corp.Example", sub)
	if err != nil || got != bm {
		t.Fatalf("bookmark after reopen %q, %v", got, err)
	}
	hosts, err := s.Hosts(ctx)
	if err != nil || len(hosts) != 51 {
		t.Fatalf("%d hosts, %v", len(hosts), err)
	}
	for _, h := range hosts {
		if h.Identity == "win10$@corp.example" {
			if h.Events != 3 || !h.LastEvent.Equal(at) || !h.LastHeartbeat.Equal(at.Add(time.Minute)) || h.Address != "10.0.0.2" || !h.FirstSeen.Equal(at) {
				t.Errorf("host state %+v", h)
			}
		}
	}
	if err := s.DeleteBookmark(ctx, "win10$@corp.example", sub); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Bookmark(ctx, "win10$@corp.example", sub); got != "" {
		t.Errorf("bookmark after delete %q", got)
	}
}

func TestLiveness(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   HostState
		want string
	}{
		{"recent events", HostState{LastSeen: now.Add(-time.Minute), LastEvent: now.Add(-time.Minute)}, Active},
		{"heartbeats only", HostState{LastSeen: now.Add(-30 * time.Minute), LastHeartbeat: now.Add(-30 * time.Minute)}, Alive},
		{"old events, fresh heartbeat", HostState{LastSeen: now.Add(-time.Minute), LastEvent: now.Add(-3 * time.Hour)}, Alive},
		{"silent", HostState{LastSeen: now.Add(-2 * time.Hour), LastEvent: now.Add(-2 * time.Hour)}, Dead},
	}
	for _, tt := range tests {
		if got := Liveness(tt.st, time.Hour, now); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
