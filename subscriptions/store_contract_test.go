package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"wefgate/internal/testpg"
	"wefgate/wef/soap"
)

// backendKind opens one store implementation for the contract suite.
type backendKind struct {
	name string
	// open returns a fresh, empty backend; reopen opens the same state
	// again (after the first was closed, for bolt); second opens another
	// handle on the same state while the first stays open (a second node),
	// or is nil when the backend cannot be shared.
	open func(t *testing.T) (b Backend, reopen func() Backend, second func() Backend)
}

func backends(t *testing.T) []backendKind {
	bolt := backendKind{name: "bolt", open: func(t *testing.T) (Backend, func() Backend, func() Backend) {
		path := filepath.Join(t.TempDir(), "state.db")
		open := func() Backend {
			s, err := OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open, nil
	}}
	// One cluster for the whole test (started on its goroutine, stopped at
	// its end), one database per case.
	var pg *testpg.Server
	if testpg.BinDir() != "" || os.Getenv(testpg.RequireEnv) == "1" {
		pg = testpg.Start(t)
	}
	dbNo := 0
	postgres := backendKind{name: "postgres", open: func(t *testing.T) (Backend, func() Backend, func() Backend) {
		if pg == nil {
			t.Skip("testpg: PostgreSQL is not installed")
		}
		dbNo++
		url := pg.CreateDatabase(t, fmt.Sprintf("contract%d", dbNo))
		open := func() Backend {
			s, err := OpenPostgres(context.Background(), PostgresConfig{URL: url, MaxConnections: 4})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open, open
	}}
	return []backendKind{bolt, postgres}
}

// at is a fixed clock in microseconds, the precision PostgreSQL keeps.
func at(sec int) time.Time {
	return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
}

func bookmarkAt(records ...any) string {
	var b strings.Builder
	b.WriteString("<BookmarkList>")
	for i := 0; i+1 < len(records); i += 2 {
		fmt.Fprintf(&b, `<Bookmark Channel="%s" RecordId="%d" IsCurrent="true"/>`, records[i], records[i+1])
	}
	b.WriteString("</BookmarkList>")
	return b.String()
}

func contact(id string, sec, events int) Contact {
	return Contact{Identity: id, SubscriptionID: "sub-1", Subscription: "handles", Address: "192.0.2.1",
		At: at(sec), Events: events, Heartbeat: events == 0, Node: "node-a"}
}

func mustBookmark(t *testing.T, s Store, id string) string {
	t.Helper()
	bm, err := s.Bookmark(context.Background(), id, "sub-1")
	if err != nil {
		t.Fatal(err)
	}
	return bm
}

func hostsByID(t *testing.T, s Store) map[string]HostState {
	t.Helper()
	hs, err := s.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]HostState{}
	for _, h := range hs {
		if _, dup := m[strings.ToLower(h.Identity)]; dup {
			t.Fatalf("host %s listed twice", h.Identity)
		}
		m[strings.ToLower(h.Identity)] = h
	}
	return m
}

// TestStoreContract runs the same cases against every backend: the
// embedded bbolt file and a throw-away PostgreSQL cluster.
func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s Backend, reopen, second func() Backend)
	}{
		{"unknown host has no bookmark", func(t *testing.T, s Backend, _, _ func() Backend) {
			if bm := mustBookmark(t, s, "WIN1$@EXAMPLE.TEST"); bm != "" {
				t.Fatalf("bookmark %q", bm)
			}
		}},
		{"bookmark is stored verbatim, identity case ignored", func(t *testing.T, s Backend, _, _ func() Backend) {
			bm := bookmarkAt("Security", 72207)
			if err := s.CommitBatch(ctx, bm, contact("WIN1$@EXAMPLE.TEST", 1, 3)); err != nil {
				t.Fatal(err)
			}
			if got := mustBookmark(t, s, "win1$@example.test"); got != bm {
				t.Fatalf("bookmark %q, want %q", got, bm)
			}
		}},
		{"heartbeat keeps the bookmark", func(t *testing.T, s Backend, _, _ func() Backend) {
			bm := bookmarkAt("Security", 10)
			s.CommitBatch(ctx, bm, contact("h", 1, 1))
			if err := s.CommitBatch(ctx, "", contact("h", 2, 0)); err != nil {
				t.Fatal(err)
			}
			if got := mustBookmark(t, s, "h"); got != bm {
				t.Fatalf("bookmark %q after heartbeat", got)
			}
		}},
		{"bookmark never moves backwards", func(t *testing.T, s Backend, _, _ func() Backend) {
			steps := []struct {
				bm   string
				want string
			}{
				{bookmarkAt("Security", 100), bookmarkAt("Security", 100)},
				{bookmarkAt("Security", 50), bookmarkAt("Security", 100)},
				{bookmarkAt("security", 99, "System", 7), bookmarkAt("Security", 100)},
				{bookmarkAt("Security", 150), bookmarkAt("Security", 150)},
				{bookmarkAt("Security", 150), bookmarkAt("Security", 150)},
				{bookmarkAt("Security", 151, "System", 3), bookmarkAt("Security", 151, "System", 3)},
				// A channel the stored bookmark lacks is new, not older.
				{bookmarkAt("Application", 1), bookmarkAt("Application", 1)},
			}
			for i, st := range steps {
				if err := s.CommitBatch(ctx, st.bm, contact("h", i, 1)); err != nil {
					t.Fatal(err)
				}
				if got := mustBookmark(t, s, "h"); got != st.want {
					t.Fatalf("step %d: bookmark %s, want %s", i, got, st.want)
				}
			}
		}},
		{"delete bookmark", func(t *testing.T, s Backend, _, _ func() Backend) {
			s.CommitBatch(ctx, bookmarkAt("Security", 5), contact("h", 1, 1))
			if err := s.DeleteBookmark(ctx, "H", "SUB-1"); err != nil {
				t.Fatal(err)
			}
			if bm := mustBookmark(t, s, "h"); bm != "" {
				t.Fatalf("bookmark %q after delete", bm)
			}
			// Afresh: a lower record id is accepted again.
			s.CommitBatch(ctx, bookmarkAt("Security", 1), contact("h", 2, 1))
			if bm := mustBookmark(t, s, "h"); bm != bookmarkAt("Security", 1) {
				t.Fatalf("bookmark %q after restart", bm)
			}
		}},
		{"host state accumulates, out of order contacts do not go back", func(t *testing.T, s Backend, _, _ func() Backend) {
			c := contact("WIN1$", 10, 0)
			c.MachineID = "win1.example.test"
			s.CommitBatch(ctx, "", c)
			c = contact("WIN1$", 20, 5)
			c.Address, c.Node = "192.0.2.2", "node-b"
			s.CommitBatch(ctx, bookmarkAt("Security", 5), c)
			// A slow node finishing an older batch.
			late := contact("WIN1$", 15, 2)
			late.Address, late.Node = "192.0.2.3", "node-c"
			if err := s.CommitBatch(ctx, bookmarkAt("Security", 3), late); err != nil {
				t.Fatal(err)
			}
			h := hostsByID(t, s)["win1$"]
			want := HostState{Identity: "WIN1$", SubscriptionID: "sub-1", Subscription: "handles",
				MachineID: "win1.example.test", Address: "192.0.2.2", Node: "node-b",
				FirstSeen: at(10), LastSeen: at(20), LastHeartbeat: at(10), LastEvent: at(20), Events: 7}
			if !sameHost(h, want) {
				t.Fatalf("host state\n got %+v\nwant %+v", h, want)
			}
			if bm := mustBookmark(t, s, "win1$"); bm != bookmarkAt("Security", 5) {
				t.Fatalf("bookmark %s", bm)
			}
		}},
		{"many hosts in one group", func(t *testing.T, s Backend, _, _ func() Backend) {
			var commits []Commit
			for i := range 300 {
				commits = append(commits, Commit{Bookmark: bookmarkAt("Security", i+1), Contact: contact(fmt.Sprintf("host%03d", i), 1, 1)})
			}
			if err := s.CommitBatches(ctx, commits); err != nil {
				t.Fatal(err)
			}
			hs := hostsByID(t, s)
			if len(hs) != 300 {
				t.Fatalf("%d hosts, want 300", len(hs))
			}
			if bm := mustBookmark(t, s, "host299"); bm != bookmarkAt("Security", 300) {
				t.Fatalf("bookmark %s", bm)
			}
		}},
		{"an operator lists and rewinds bookmarks", func(t *testing.T, s Backend, _, _ func() Backend) {
			a := s.(BookmarkAdmin)
			s.CommitBatch(ctx, bookmarkAt("Security", 500), contact("WIN1$@EXAMPLE.TEST", 1, 1))
			s.CommitBatch(ctx, bookmarkAt("Security", 7), contact("h2", 1, 1))
			bms, err := a.Bookmarks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(bms) != 2 || bms[1].Identity != "win1$@example.test" || bms[1].SubscriptionID != "SUB-1" || bms[1].Bookmark != bookmarkAt("Security", 500) {
				t.Fatalf("bookmarks %+v", bms)
			}
			// Backwards, by hand: the host then sends from record 100 again.
			if err := a.SetBookmark(ctx, "win1$@example.test", "sub-1", bookmarkAt("Security", 100)); err != nil {
				t.Fatal(err)
			}
			if bm := mustBookmark(t, s, "WIN1$@EXAMPLE.TEST"); bm != bookmarkAt("Security", 100) {
				t.Fatalf("bookmark %s after the rewind", bm)
			}
			// The forwarders' flow goes on forward from there.
			s.CommitBatch(ctx, bookmarkAt("Security", 101), contact("WIN1$@EXAMPLE.TEST", 2, 1))
			if bm := mustBookmark(t, s, "WIN1$@EXAMPLE.TEST"); bm != bookmarkAt("Security", 101) {
				t.Fatalf("bookmark %s after the next batch", bm)
			}
		}},
		{"state survives a reopen", func(t *testing.T, s Backend, reopen, _ func() Backend) {
			s.CommitBatch(ctx, bookmarkAt("Security", 9), contact("h", 1, 1))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := reopen()
			defer s2.Close()
			if bm := mustBookmark(t, s2, "h"); bm != bookmarkAt("Security", 9) {
				t.Fatalf("bookmark %s after reopen", bm)
			}
		}},
		{"two nodes share hosts and bookmarks", func(t *testing.T, s Backend, _, second func() Backend) {
			if second == nil {
				t.Skip("this backend belongs to one node")
			}
			b := second()
			defer b.Close()
			a, nb := NewGrouped(s, "node-a", 0), NewGrouped(b, "node-b", 0)
			c := contact("h", 1, 2)
			c.Node = ""
			if err := a.CommitBatch(ctx, bookmarkAt("Security", 10), c); err != nil {
				t.Fatal(err)
			}
			if bm := mustBookmark(t, nb, "h"); bm != bookmarkAt("Security", 10) {
				t.Fatalf("node b sees bookmark %q", bm)
			}
			c = contact("h", 2, 2)
			c.Node = ""
			nb.CommitBatch(ctx, bookmarkAt("Security", 20), c)
			// Node a finishing an older batch after node b.
			c = contact("h", 1, 2)
			c.Node = ""
			a.CommitBatch(ctx, bookmarkAt("Security", 15), c)
			if bm := mustBookmark(t, a, "h"); bm != bookmarkAt("Security", 20) {
				t.Fatalf("bookmark went back to %s", bm)
			}
			hs := hostsByID(t, a)
			if len(hs) != 1 || hs["h"].Node != "node-b" || hs["h"].Events != 6 {
				t.Fatalf("hosts %+v", hs)
			}
		}},
	}
	for _, k := range backends(t) {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s, reopen, second := k.open(t)
					t.Cleanup(func() { s.Close() })
					c.run(t, s, reopen, second)
				})
			}
		})
	}
}

func sameHost(a, b HostState) bool {
	eq := func(x, y time.Time) bool { return x.Equal(y) }
	return a.Identity == b.Identity && a.SubscriptionID == b.SubscriptionID && a.Subscription == b.Subscription &&
		a.MachineID == b.MachineID && a.Address == b.Address && a.Node == b.Node && a.Events == b.Events &&
		eq(a.FirstSeen, b.FirstSeen) && eq(a.LastSeen, b.LastSeen) && eq(a.LastHeartbeat, b.LastHeartbeat) && eq(a.LastEvent, b.LastEvent)
}

// gatedBackend holds the first CommitBatches until released and records
// the size of every group.
type gatedBackend struct {
	Backend
	gate  chan struct{}
	mu    sync.Mutex
	sizes []int
	fail  string // identity whose presence fails a group
	down  bool   // every group fails as unreachable
}

func (g *gatedBackend) CommitBatches(ctx context.Context, commits []Commit) error {
	g.mu.Lock()
	first := len(g.sizes) == 0
	g.sizes = append(g.sizes, len(commits))
	g.mu.Unlock()
	if first && g.gate != nil {
		<-g.gate
	}
	if g.down {
		return fmt.Errorf("dial: %w", ErrStoreUnavailable)
	}
	for _, c := range commits {
		if g.fail != "" && c.Contact.Identity == g.fail {
			return errors.New("refused")
		}
	}
	return g.Backend.CommitBatches(ctx, commits)
}

// TestGroupedCommitsTogether shows the commits that arrive while one is
// in flight going to the backend as one group, each caller returning
// after it, with the node stamped on every contact.
func TestGroupedCommitsTogether(t *testing.T) {
	for _, k := range backends(t) {
		t.Run(k.name, func(t *testing.T) {
			s, _, _ := k.open(t)
			gb := &gatedBackend{Backend: s, gate: make(chan struct{})}
			g := NewGrouped(gb, "node-x", 0)
			defer g.Close()
			ctx := context.Background()
			const n = 200
			errs := make(chan error, n)
			go func() { errs <- g.CommitBatch(ctx, bookmarkAt("Security", 1), contact("first", 1, 1)) }()
			for gb.groups() == 0 {
				time.Sleep(time.Millisecond)
			}
			for i := range n - 1 {
				go func() {
					c := contact(fmt.Sprintf("h%03d", i), 1, 1)
					c.Node = ""
					errs <- g.CommitBatch(ctx, bookmarkAt("Security", i+1), c)
				}()
			}
			for g.pending() < n-1 {
				time.Sleep(time.Millisecond)
			}
			close(gb.gate)
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			gb.mu.Lock()
			sizes := gb.sizes
			gb.mu.Unlock()
			if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != n-1 {
				t.Fatalf("groups %v, want [1 %d]", sizes, n-1)
			}
			if st := g.Stats(); st != (GroupStats{Commits: n, Groups: 2}) {
				t.Fatalf("stats %+v", st)
			}
			hs := hostsByID(t, g)
			if len(hs) != n || hs["h042"].Node != "node-x" || hs["first"].Node != "node-a" {
				t.Fatalf("%d hosts, h042 on %q", len(hs), hs["h042"].Node)
			}
		})
	}
}

// TestGroupedIsolatesAFailingCommit: one host's failing commit fails its
// own call, not the others' in the same group.
func TestGroupedIsolatesAFailingCommit(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	gb := &gatedBackend{Backend: s, gate: make(chan struct{}), fail: "bad"}
	g := NewGrouped(gb, "n", 0)
	defer g.Close()
	ctx := context.Background()
	res := map[string]chan error{}
	for _, id := range []string{"first", "good1", "bad", "good2"} {
		res[id] = make(chan error, 1)
	}
	go func() { res["first"] <- g.CommitBatch(ctx, "", contact("first", 1, 0)) }()
	for gb.groups() == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, id := range []string{"good1", "bad", "good2"} {
		go func() { res[id] <- g.CommitBatch(ctx, "", contact(id, 1, 0)) }()
	}
	for g.pending() < 3 {
		time.Sleep(time.Millisecond)
	}
	close(gb.gate)
	for id, ch := range res {
		err := <-ch
		if (id == "bad") != (err != nil) {
			t.Errorf("%s: %v", id, err)
		}
	}
	if hs := hostsByID(t, g); len(hs) != 3 {
		t.Fatalf("hosts %v", hs)
	}
	// One group of three failed, then each of its commits alone.
	if st := g.Stats(); st != (GroupStats{Commits: 3, Groups: 5, Failures: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestGroupedStoreDown: an unreachable store fails the whole group at
// once, without a retry per host.
func TestGroupedStoreDown(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	gb := &gatedBackend{Backend: s, gate: make(chan struct{}), down: true}
	g := NewGrouped(gb, "n", 0)
	defer g.Close()
	ctx := context.Background()
	errs := make(chan error, 4)
	go func() { errs <- g.CommitBatch(ctx, "", contact("first", 1, 0)) }()
	for gb.groups() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		go func() { errs <- g.CommitBatch(ctx, "", contact(fmt.Sprint("h", i), 1, 0)) }()
	}
	for g.pending() < 3 {
		time.Sleep(time.Millisecond)
	}
	close(gb.gate)
	for range 4 {
		if err := <-errs; !errors.Is(err, ErrStoreUnavailable) {
			t.Fatalf("commit: %v", err)
		}
	}
	gb.mu.Lock()
	defer gb.mu.Unlock()
	if len(gb.sizes) != 2 || gb.sizes[1] != 3 {
		t.Fatalf("groups %v, want [1 3]", gb.sizes)
	}
}

func TestGroupedAfterClose(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := NewGrouped(s, "n", 0)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.CommitBatch(context.Background(), "", contact("h", 1, 0)); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("commit after close: %v", err)
	}
}

func (g *gatedBackend) groups() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sizes)
}

// pending is the number of commits queued behind the one in flight.
func (g *Grouped) pending() int { return len(g.reqs) }

func TestBookmarkPositions(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]uint64
		err  bool
	}{
		{bookmarkAt("Security", 72207), map[string]uint64{"security": 72207}, false},
		{`<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`, map[string]uint64{}, false},
		{bookmarkAt("Security", 1, "System", 2), map[string]uint64{"security": 1, "system": 2}, false},
		{`<BookmarkList><Bookmark Channel="Security" RecordId="-1"/></BookmarkList>`, nil, true},
		{`<BookmarkList><Bookmark`, nil, true},
		{"", map[string]uint64{}, false},
	}
	for _, c := range cases {
		got, err := BookmarkPositions(c.in)
		if (err != nil) != c.err || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: %v %v, want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzBookmarkPositions(f *testing.F) {
	f.Add(bookmarkAt("Security", 72207))
	f.Add(`<BookmarkList Direction="backward"><Bookmark Channel="Security" IsCurrent="true"/></BookmarkList>`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := BookmarkPositions(s)
		if err == nil && len(p) > soap.MaxBookmarkChannels {
			t.Fatalf("%d channels", len(p))
		}
		if err == nil && BookmarkIsStale(p, p) {
			t.Fatal("a bookmark is stale against itself")
		}
	})
}

// TestPostgresTLS connects with state.postgres.ca_file: TLS with full
// verification whatever the URL's sslmode says, and a server certificate
// from another CA is refused.
func TestPostgresTLS(t *testing.T) {
	pg := testpg.Start(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, PostgresConfig{URL: pg.URL, CAFile: pg.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ssl bool
	if err := s.pool.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("connection TLS %v, %v", ssl, err)
	}
	other := testpg.Start(t) // its CA did not sign pg's certificate
	if s2, err := OpenPostgres(ctx, PostgresConfig{URL: pg.URL, CAFile: other.CAFile}); err == nil {
		s2.Close()
		t.Fatal("connected with a server certificate from another CA")
	}
}

// TestPostgresMigrations: nodes starting together apply the migrations
// once (advisory lock), and a schema newer than the binary is refused.
func TestPostgresMigrations(t *testing.T) {
	pg := testpg.Start(t)
	url := pg.CreateDatabase(t, "migrations")
	ctx := context.Background()
	const nodes = 4
	errs := make(chan error, nodes)
	stores := make(chan *PostgresStore, nodes)
	for range nodes {
		go func() {
			s, err := OpenPostgres(ctx, PostgresConfig{URL: url, MaxConnections: 2})
			errs <- err
			stores <- s
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("node start: %v", err)
		}
		s := <-stores
		defer s.Close()
	}
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM wefgate_schema_migrations").Scan(&n); err != nil || n != len(all) {
		t.Fatalf("%d migrations recorded (%v), want %d", n, err, len(all))
	}
	if _, err := conn.Exec(ctx, "INSERT INTO wefgate_schema_migrations (version, name) VALUES (9999, 'from a newer wefgate')"); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenPostgres(ctx, PostgresConfig{URL: url}); err == nil || !strings.Contains(err.Error(), "newer than this wefgate knows") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("newer schema: %v", err)
	}
}

// TestPostgresDown: with the database gone, a commit fails as
// ErrStoreUnavailable within the store's timeout (the endpoint answers
// 503 and the host keeps its events), and the bookmark is not claimed.
func TestPostgresDown(t *testing.T) {
	pg := testpg.Start(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, PostgresConfig{URL: pg.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGrouped(s, "n", 0)
	defer g.Close()
	if err := g.CommitBatch(ctx, bookmarkAt("Security", 1), contact("h", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	err = g.CommitBatch(ctx, bookmarkAt("Security", 2), contact("h", 2, 1))
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("commit with the database down: %v", err)
	}
	if st := g.Stats(); st.Failures != 1 || st.Commits != 1 {
		t.Fatalf("stats %+v", st)
	}
}
