package subscriptions

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// BookmarkState is one stored bookmark, as 'wefgate bookmarks' lists it.
type BookmarkState struct {
	// Identity is lower-cased and SubscriptionID upper-cased: the keys the
	// store compares.
	Identity       string `json:"identity"`
	SubscriptionID string `json:"subscription_id"`
	Bookmark       string `json:"bookmark"`
	// Node and Updated say which node wrote it and when (PostgreSQL only).
	Node    string    `json:"node,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// BookmarkAdmin is what an operator does to bookmarks by hand, outside the
// forwarders' flow: list them, and set one to any value, also backwards
// (to have a host send again what a lost node had acknowledged).
type BookmarkAdmin interface {
	Bookmarks(ctx context.Context) ([]BookmarkState, error)
	// SetBookmark stores bookmark for the host and subscription as given,
	// without the never-backwards check of CommitBatch.
	SetBookmark(ctx context.Context, identity, subscriptionID, bookmark string) error
}

// Bookmarks implements BookmarkAdmin.
func (s *BoltStore) Bookmarks(context.Context) ([]BookmarkState, error) {
	var out []BookmarkState
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBookmarks).ForEach(func(k, v []byte) error {
			id, sub := splitStateKey(k)
			out = append(out, BookmarkState{Identity: id, SubscriptionID: sub, Bookmark: string(v)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list bookmarks: %w", err)
	}
	return out, nil
}

// SetBookmark implements BookmarkAdmin.
func (s *BoltStore) SetBookmark(_ context.Context, identity, subscriptionID, bookmark string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBookmarks).Put(stateKey(identity, subscriptionID), []byte(bookmark))
	})
	if err != nil {
		return fmt.Errorf("set bookmark of %s: %w", identity, err)
	}
	return nil
}

func splitStateKey(k []byte) (identity, subscriptionID string) {
	for i, b := range k {
		if b == 0 {
			return string(k[:i]), string(k[i+1:])
		}
	}
	return string(k), ""
}

// Bookmarks implements BookmarkAdmin.
func (s *PostgresStore) Bookmarks(ctx context.Context) ([]BookmarkState, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT identity_key, subscription_id, bookmark, node, updated_at
		FROM bookmarks ORDER BY identity_key, subscription_id`)
	if err != nil {
		return nil, fmt.Errorf("list bookmarks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BookmarkState, error) {
		var b BookmarkState
		err := r.Scan(&b.Identity, &b.SubscriptionID, &b.Bookmark, &b.Node, &b.Updated)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list bookmarks: %w", err)
	}
	return out, nil
}

// SetBookmark implements BookmarkAdmin.
func (s *PostgresStore) SetBookmark(ctx context.Context, identity, subscriptionID, bookmark string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pos, err := BookmarkPositions(bookmark)
	if err != nil {
		pos = nil
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO bookmarks (identity_key, subscription_id, bookmark, positions, node, updated_at)
		VALUES ($1, $2, $3, $4::jsonb, 'operator', now())
		ON CONFLICT (identity_key, subscription_id) DO UPDATE
		SET bookmark = EXCLUDED.bookmark, positions = EXCLUDED.positions, node = EXCLUDED.node, updated_at = EXCLUDED.updated_at`,
		identityKey(identity), subscriptionKey(subscriptionID), bookmark, string(positionsJSON(pos)))
	if err != nil {
		return fmt.Errorf("set bookmark of %s: %w", identity, err)
	}
	return nil
}
