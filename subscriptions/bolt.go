package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketBookmarks = []byte("bookmarks")
	bucketHosts     = []byte("hosts")
)

// BoltStore is the embedded Backend, one bbolt file, for a single node.
// Put it behind Grouped so that concurrent commits share fsyncs.
type BoltStore struct {
	db *bolt.DB
}

// OpenBolt opens (creating when needed) the store file at path.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open state store %s: %w", path, ErrStoreLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	return initBolt(db, path)
}

// ErrStoreLocked means another process (a running wefgate) holds the
// store.
var ErrStoreLocked = errors.New("state store is in use by a running wefgate")

// OpenBoltReadOnly opens an existing store for reading, for tools that
// run while wefgate is stopped.
func OpenBoltReadOnly(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrStoreLocked
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

func initBolt(db *bolt.DB, path string) (*BoltStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBookmarks, bucketHosts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise state store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// stateKey keys per-host records. Identities are lower-cased so that a
// principal's case (WIN10$ vs win10$) never splits a host's bookmark.
func stateKey(identity, subscriptionID string) []byte {
	return []byte(identityKey(identity) + "\x00" + subscriptionKey(subscriptionID))
}

// Bookmark implements Store.
func (s *BoltStore) Bookmark(_ context.Context, identity, subscriptionID string) (string, error) {
	var bm string
	err := s.db.View(func(tx *bolt.Tx) error {
		bm = string(tx.Bucket(bucketBookmarks).Get(stateKey(identity, subscriptionID)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read bookmark of %s: %w", identity, err)
	}
	return bm, nil
}

// CommitBatch implements Store.
func (s *BoltStore) CommitBatch(ctx context.Context, bookmark string, c Contact) error {
	return s.CommitBatches(ctx, []Commit{{Bookmark: bookmark, Contact: c}})
}

// CommitBatches implements Backend: one bbolt transaction, one fsync.
func (s *BoltStore) CommitBatches(ctx context.Context, commits []Commit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range commits {
			if err := commitBolt(tx, &commits[i]); err != nil {
				return fmt.Errorf("%s: %w", commits[i].Contact.Identity, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store batch state: %w", err)
	}
	return nil
}

func commitBolt(tx *bolt.Tx, cm *Commit) error {
	c := &cm.Contact
	key := stateKey(c.Identity, c.SubscriptionID)
	if cm.Bookmark != "" {
		bms := tx.Bucket(bucketBookmarks)
		if !boltBookmarkStale(bms.Get(key), cm.Bookmark) {
			if err := bms.Put(key, []byte(cm.Bookmark)); err != nil {
				return err
			}
		}
	}
	hosts := tx.Bucket(bucketHosts)
	var st HostState
	if raw := hosts.Get(key); raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("decode host state: %w", err)
		}
	}
	if st.FirstSeen.IsZero() || c.At.Before(st.FirstSeen) {
		st.FirstSeen = c.At
	}
	st.Identity, st.SubscriptionID = c.Identity, c.SubscriptionID
	if c.Subscription != "" {
		st.Subscription = c.Subscription
	}
	if c.MachineID != "" {
		st.MachineID = c.MachineID
	}
	if !c.At.Before(st.LastSeen) {
		st.LastSeen = c.At
		st.Address = c.Address
		if c.Node != "" {
			st.Node = c.Node
		}
	}
	if c.Heartbeat {
		if c.At.After(st.LastHeartbeat) {
			st.LastHeartbeat = c.At
		}
	} else {
		if c.At.After(st.LastEvent) {
			st.LastEvent = c.At
		}
		st.Events += uint64(c.Events)
	}
	raw, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	return hosts.Put(key, raw)
}

// boltBookmarkStale reports whether next would move the stored bookmark
// backwards (see BookmarkIsStale).
func boltBookmarkStale(stored []byte, next string) bool {
	if len(stored) == 0 || string(stored) == next {
		// The same bookmark again (a host re-sending its last batch) cannot
		// move backwards; string(stored) == next does not allocate.
		return false
	}
	old, err := BookmarkPositions(string(stored))
	if err != nil {
		return false
	}
	nw, err := BookmarkPositions(next)
	if err != nil {
		return false
	}
	return BookmarkIsStale(old, nw)
}

// Hosts implements Store.
func (s *BoltStore) Hosts(context.Context) ([]HostState, error) {
	var out []HostState
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHosts).ForEach(func(_, v []byte) error {
			var st HostState
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode host state: %w", err)
			}
			out = append(out, st)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return out, nil
}

// DeleteBookmark implements Store.
func (s *BoltStore) DeleteBookmark(_ context.Context, identity, subscriptionID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBookmarks).Delete(stateKey(identity, subscriptionID))
	})
	if err != nil {
		return fmt.Errorf("delete bookmark of %s: %w", identity, err)
	}
	return nil
}

// Close implements Store.
func (s *BoltStore) Close() error {
	if err := s.db.Close(); err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("close state store: %w", err)
	}
	return nil
}
