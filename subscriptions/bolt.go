package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
		// bbolt keeps the values Put is given until the transaction ends, so
		// the host states are encoded one after another into one growing
		// slice rather than into a reused buffer.
		arena := make([]byte, 0, arenaSize(commits))
		for i := range commits {
			if err := commitBolt(tx, &commits[i], &arena); err != nil {
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

// arenaSize estimates the bytes CommitBatches puts: each bookmark and
// host state (about 320 bytes of keys, times and punctuation plus the
// contact's strings). Too small only costs a reallocation.
func arenaSize(commits []Commit) int {
	n := 0
	for i := range commits {
		c := &commits[i].Contact
		n += 320 + len(commits[i].Bookmark) + len(c.Identity) + len(c.SubscriptionID) +
			len(c.Subscription) + len(c.MachineID) + len(c.Address) + len(c.Node)
	}
	return n
}

func commitBolt(tx *bolt.Tx, cm *Commit, arena *[]byte) error {
	c := &cm.Contact
	key := stateKey(c.Identity, c.SubscriptionID)
	if cm.Bookmark != "" {
		bms := tx.Bucket(bucketBookmarks)
		if !boltBookmarkStale(bms.Get(key), cm.Bookmark) {
			start := len(*arena)
			*arena = append(*arena, cm.Bookmark...)
			if err := bms.Put(key, (*arena)[start:len(*arena):len(*arena)]); err != nil {
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
	start := len(*arena)
	if b, ok := appendHostStateJSON(*arena, &st); ok {
		*arena = b
		// The full slice expression keeps a later append from writing
		// into the value bbolt holds.
		return hosts.Put(key, b[start:len(b):len(b)])
	}
	raw, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	return hosts.Put(key, raw)
}

// appendHostStateJSON appends st encoded exactly as json.Marshal(st) does
// (same keys, order and escaping), without its per-call allocations. ok is
// false, and dst's contents past len(dst) are to be ignored, when a string
// needs JSON escaping or a time is not RFC 3339 encodable; the caller
// then uses json.Marshal (FuzzHostStateJSON checks the equality).
func appendHostStateJSON(dst []byte, st *HostState) (_ []byte, ok bool) {
	b := dst
	b, ok = appendPlainJSONString(append(b, `{"identity":`...), st.Identity)
	if !ok {
		return dst, false
	}
	if b, ok = appendPlainJSONString(append(b, `,"subscription_id":`...), st.SubscriptionID); !ok {
		return dst, false
	}
	if b, ok = appendPlainJSONString(append(b, `,"subscription":`...), st.Subscription); !ok {
		return dst, false
	}
	if st.MachineID != "" {
		if b, ok = appendPlainJSONString(append(b, `,"machine_id":`...), st.MachineID); !ok {
			return dst, false
		}
	}
	if b, ok = appendPlainJSONString(append(b, `,"address":`...), st.Address); !ok {
		return dst, false
	}
	if b, ok = appendJSONTime(append(b, `,"first_seen":`...), st.FirstSeen); !ok {
		return dst, false
	}
	if b, ok = appendJSONTime(append(b, `,"last_seen":`...), st.LastSeen); !ok {
		return dst, false
	}
	if !st.LastHeartbeat.IsZero() {
		if b, ok = appendJSONTime(append(b, `,"last_heartbeat":`...), st.LastHeartbeat); !ok {
			return dst, false
		}
	}
	if !st.LastEvent.IsZero() {
		if b, ok = appendJSONTime(append(b, `,"last_event":`...), st.LastEvent); !ok {
			return dst, false
		}
	}
	b = strconv.AppendUint(append(b, `,"events":`...), st.Events, 10)
	if st.Node != "" {
		if b, ok = appendPlainJSONString(append(b, `,"node":`...), st.Node); !ok {
			return dst, false
		}
	}
	return append(b, '}'), true
}

// appendPlainJSONString appends s quoted when it is printable ASCII that
// encoding/json writes as is (no '"', '\\', '<', '>' or '&'); ok is
// false otherwise.
func appendPlainJSONString(b []byte, s string) (_ []byte, ok bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// appendJSONTime appends t as time.Time.MarshalJSON does (quoted RFC 3339
// with nanoseconds); ok is false when MarshalJSON would fail.
func appendJSONTime(b []byte, t time.Time) (_ []byte, ok bool) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(b, '"'), true
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
