package subscriptions

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkBoltCommitFleet is the state store under a 10,000-host fleet:
// each op commits one group of 512 contacts of random hosts (bookmark and
// host state each), as Grouped does when the hosts' batches arrive
// together. CPU per op is the single writer's cost per group.
func BenchmarkBoltCommitFleet(b *testing.B) {
	const hosts, group = 10000, 512
	st, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	commit := func(ids []int, n uint64) {
		cs := make([]Commit, len(ids))
		for i, h := range ids {
			cs[i] = Commit{
				Bookmark: fmt.Sprintf(`<BookmarkList><Bookmark Channel="Security" RecordId="%d" IsCurrent="true"/></BookmarkList>`, n),
				Contact: Contact{Identity: fmt.Sprintf("load%05d.example.test", h), SubscriptionID: "649E6365-23E4-5BA6-B1F4-0F67683ACE54",
					Subscription: "load", MachineID: fmt.Sprintf("load%05d.example.test", h), Address: "127.1.0.1", At: time.Now(), Events: 10},
			}
		}
		if err := st.CommitBatches(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
	all := make([]int, hosts)
	for i := range all {
		all[i] = i + 1
	}
	for i := 0; i < hosts; i += group {
		commit(all[i:min(i+group, hosts)], 1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := range b.N {
		ids := make([]int, group)
		for j := range ids {
			ids[j] = 1 + rng.IntN(hosts)
		}
		commit(ids, uint64(i+2))
	}
}
