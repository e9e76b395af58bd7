package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// DefaultMaxGroup bounds how many commits one backend transaction carries.
const DefaultMaxGroup = 512

// Grouped is the Store the gateway uses: it puts CommitBatch calls that
// arrive while the backend is busy into the backend's next transaction
// (group commit), so that a thousand hosts' heartbeats cost one fsync or
// one database round trip instead of a thousand. Each CommitBatch returns
// only once the transaction holding it is durable, because the forwarder
// is acknowledged right after. It also stamps every contact with the
// node's name.
//
// There is no timer: the first commit of an idle store goes out at once,
// and the ones arriving while it is in flight form the next group.
type Grouped struct {
	backend  Backend
	node     string
	maxGroup int

	reqs chan *groupReq
	stop chan struct{}
	done chan struct{}
	once sync.Once

	commits, groups, failures atomic.Uint64
}

// GroupStats counts what Grouped did since it started.
type GroupStats struct {
	// Commits is the CommitBatch calls stored; Groups the backend
	// transactions that carried them; Failures the calls that failed.
	Commits, Groups, Failures uint64
}

// Stats returns the counters.
func (g *Grouped) Stats() GroupStats {
	return GroupStats{Commits: g.commits.Load(), Groups: g.groups.Load(), Failures: g.failures.Load()}
}

// answer reports one commit's outcome to its caller and counts it.
func (g *Grouped) answer(r *groupReq, err error) {
	if err != nil {
		g.failures.Add(1)
	} else {
		g.commits.Add(1)
	}
	r.err <- err
}

type groupReq struct {
	commit Commit
	err    chan error
}

// NewGrouped starts the group committer in front of backend; node is the
// name recorded with every contact. maxGroup <= 0 means DefaultMaxGroup.
// Close stops it and closes the backend.
func NewGrouped(backend Backend, node string, maxGroup int) *Grouped {
	if maxGroup <= 0 {
		maxGroup = DefaultMaxGroup
	}
	g := &Grouped{
		backend: backend, node: node, maxGroup: maxGroup,
		reqs: make(chan *groupReq, maxGroup), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go g.run()
	return g
}

// ErrStoreUnavailable wraps a backend's failure to reach its storage (a
// connection refused or timed out), as opposed to a failure of the commit
// itself.
var ErrStoreUnavailable = errors.New("state store unavailable")

// ErrStoreClosed is returned by CommitBatch after Close.
var ErrStoreClosed = errors.New("state store is closed")

// CommitBatch implements Store. It returns once the group holding the
// commit is durable, or with ctx's error while still waiting (the commit
// may then still be stored, which is harmless: the host was not
// acknowledged and sends the batch again).
func (g *Grouped) CommitBatch(ctx context.Context, bookmark string, c Contact) error {
	if c.Node == "" {
		c.Node = g.node
	}
	r := &groupReq{commit: Commit{Bookmark: bookmark, Contact: c}, err: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-g.stop:
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.err:
		return err
	case <-g.done:
		// Close drains the queue before done closes, so a commit it
		// answered has its error waiting; one that arrived after never
		// reached the backend.
		select {
		case err := <-r.err:
			return err
		default:
			return ErrStoreClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Grouped) run() {
	defer close(g.done)
	group := make([]*groupReq, 0, g.maxGroup)
	commits := make([]Commit, 0, g.maxGroup)
	for {
		var first *groupReq
		select {
		case first = <-g.reqs:
		case <-g.stop:
			g.drain()
			return
		}
		group = append(group[:0], first)
	gather:
		for len(group) < g.maxGroup {
			select {
			case r := <-g.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		commits = commits[:0]
		for _, r := range group {
			commits = append(commits, r.commit)
		}
		g.commit(group, commits)
	}
}

// commit stores one group. When the group's transaction fails and it held
// several hosts, each is retried alone, so that one host's bad commit (or
// a conflict) does not refuse the others' batches; unless the store is
// unreachable, when retrying would only multiply the wait.
func (g *Grouped) commit(group []*groupReq, commits []Commit) {
	// The callers wait without a deadline of ours; the backend's own
	// (connection, statement) timeouts bound the wait.
	ctx := context.Background()
	g.groups.Add(1)
	err := g.backend.CommitBatches(ctx, commits)
	if err == nil || len(group) == 1 || errors.Is(err, ErrStoreUnavailable) {
		for _, r := range group {
			g.answer(r, err)
		}
		return
	}
	for i, r := range group {
		g.groups.Add(1)
		g.answer(r, g.backend.CommitBatches(ctx, commits[i:i+1]))
	}
}

// drain fails the commits queued when Close was called.
func (g *Grouped) drain() {
	for {
		select {
		case r := <-g.reqs:
			r.err <- ErrStoreClosed
		default:
			return
		}
	}
}

// Bookmark implements Store.
func (g *Grouped) Bookmark(ctx context.Context, identity, subscriptionID string) (string, error) {
	return g.backend.Bookmark(ctx, identity, subscriptionID)
}

// Hosts implements Store.
func (g *Grouped) Hosts(ctx context.Context) ([]HostState, error) {
	return g.backend.Hosts(ctx)
}

// DeleteBookmark implements Store.
func (g *Grouped) DeleteBookmark(ctx context.Context, identity, subscriptionID string) error {
	return g.backend.DeleteBookmark(ctx, identity, subscriptionID)
}

// Close stops the committer (queued commits fail with ErrStoreClosed) and
// closes the backend.
func (g *Grouped) Close() error {
	g.once.Do(func() { close(g.stop) })
	<-g.done
	if err := g.backend.Close(); err != nil {
		return fmt.Errorf("close state store: %w", err)
	}
	return nil
}
