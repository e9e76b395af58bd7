package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wefgate/config"
	"wefgate/subscriptions"
)

func TestBookmarksCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "wefgate.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sub := cfg.Subscriptions[0]
	store, err := subscriptions.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bm := `<BookmarkList><Bookmark Channel="Security" RecordId="500" IsCurrent="true"/></BookmarkList>`
	if err := store.CommitBatch(ctx, bm, subscriptions.Contact{Identity: "WIN1$@CORP.EXAMPLE", SubscriptionID: sub.ID, At: time.Now(), Events: 1}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := cmdBookmarks(ctx, append([]string{"-config", cfgPath}, args...), &out, &out)
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "win1$@corp.example") || !strings.Contains(out, sub.Name) || !strings.Contains(out, "security=500") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	rewind := `<BookmarkList><Bookmark Channel="Security" RecordId="100" IsCurrent="true"/></BookmarkList>`
	for _, bad := range [][]string{
		{"-set", rewind},
		{"-set", rewind, "-host", "WIN1$@CORP.EXAMPLE", "-subscription", "nope"},
		{"-set", "<BookmarkList/>", "-host", "WIN1$@CORP.EXAMPLE", "-subscription", sub.Name},
		// An identity no host uses: the bookmark would never be read.
		{"-set", rewind, "-host", "win1.corp.example", "-subscription", sub.Name},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	if out, err := run("-set", rewind, "-host", "WIN1$@CORP.EXAMPLE", "-subscription", sub.Name); err != nil {
		t.Fatalf("set: %v\n%s", err, out)
	}
	out, err = run("-host", "win1$@corp.example", "-json")
	if err != nil || !strings.Contains(out, `RecordId=\"100\"`) {
		t.Fatalf("after -set: %v\n%s", err, out)
	}
}
