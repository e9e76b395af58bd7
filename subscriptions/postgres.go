package subscriptions

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore is the Backend shared by several wefgate nodes: every
// node reads and writes the same bookmarks and host states, so a host that
// reconnects through the load balancer to another node carries on from
// its bookmark. Safe for concurrent use.
type PostgresStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the pg_advisory_lock key under which nodes starting at
// the same time apply the migrations one after the other ("wefgate" in
// ASCII).
const migrationLock = 0x77656667617465

// OpenPostgres connects to the database of cfg, applies the missing
// migrations under an advisory lock (so that nodes starting together do
// not race) and returns the store. It refuses a database whose schema is
// newer than this binary knows.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*PostgresStore, error) {
	pc, err := cfg.poolConfig()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("state.postgres: %w", err)
	}
	s := &PostgresStore{pool: pool, timeout: cfg.Timeout}
	if s.timeout <= 0 {
		s.timeout = DefaultPostgresTimeout
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := migrate(mctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state.postgres: %w", err)
	}
	return s, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version", e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the embedded migrations that the database lacks, each
// in its own transaction, holding a session advisory lock meanwhile.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	all, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		// A session lock outlives a failed unlock only until the pooled
		// connection closes; nothing more to do.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS wefgate_schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migration table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM wefgate_schema_migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	latest := all[len(all)-1].version
	for _, v := range versions {
		if int(v) > latest {
			return fmt.Errorf("database schema version %d is newer than this wefgate knows (%d): upgrade this node", v, latest)
		}
		applied[int(v)] = true
	}
	for _, m := range all {
		if applied[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The simple protocol runs a file of several statements.
			if _, err := tx.Conn().PgConn().Exec(ctx, m.sql).ReadAll(); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO wefgate_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Bookmark implements Store.
func (s *PostgresStore) Bookmark(ctx context.Context, identity, subscriptionID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var bm string
	err := s.pool.QueryRow(ctx, "SELECT bookmark FROM bookmarks WHERE identity_key = $1 AND subscription_id = $2",
		identityKey(identity), subscriptionKey(subscriptionID)).Scan(&bm)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read bookmark of %s: %w", identity, err)
	}
	return bm, nil
}

// The bookmark is written unless it is stale: lower than the stored one on
// a channel both name. The check runs in the upsert itself, under the
// row's lock, so two nodes committing the same host cannot interleave.
const upsertBookmark = `
INSERT INTO bookmarks AS b (identity_key, subscription_id, bookmark, positions, node, updated_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (identity_key, subscription_id) DO UPDATE
SET bookmark = EXCLUDED.bookmark, positions = EXCLUDED.positions, node = EXCLUDED.node, updated_at = EXCLUDED.updated_at
WHERE NOT EXISTS (
	SELECT 1 FROM jsonb_each(b.positions) o JOIN jsonb_each(EXCLUDED.positions) n ON n.key = o.key
	WHERE (n.value)::numeric < (o.value)::numeric)`

// Contacts may arrive out of order from several nodes: times only move
// forward, and the address and node are those of the latest contact.
const upsertHost = `
INSERT INTO hosts AS h (identity_key, subscription_key, identity, subscription_id, subscription, machine_id, address, node,
	first_seen, last_seen, last_heartbeat, last_event, events)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)
ON CONFLICT (identity_key, subscription_key) DO UPDATE SET
	identity = EXCLUDED.identity,
	subscription_id = EXCLUDED.subscription_id,
	subscription = COALESCE(NULLIF(EXCLUDED.subscription, ''), h.subscription),
	machine_id = COALESCE(NULLIF(EXCLUDED.machine_id, ''), h.machine_id),
	address = CASE WHEN EXCLUDED.last_seen >= h.last_seen THEN EXCLUDED.address ELSE h.address END,
	node = CASE WHEN EXCLUDED.last_seen >= h.last_seen AND EXCLUDED.node <> '' THEN EXCLUDED.node ELSE h.node END,
	first_seen = LEAST(h.first_seen, EXCLUDED.first_seen),
	last_seen = GREATEST(h.last_seen, EXCLUDED.last_seen),
	last_heartbeat = GREATEST(h.last_heartbeat, EXCLUDED.last_heartbeat),
	last_event = GREATEST(h.last_event, EXCLUDED.last_event),
	events = h.events + EXCLUDED.events`

// CommitBatch implements Store.
func (s *PostgresStore) CommitBatch(ctx context.Context, bookmark string, c Contact) error {
	return s.CommitBatches(ctx, []Commit{{Bookmark: bookmark, Contact: c}})
}

// CommitBatches implements Backend: the statements of every commit go in
// one pgx batch, which PostgreSQL runs as one implicit transaction, in one
// network round trip.
func (s *PostgresStore) CommitBatches(ctx context.Context, commits []Commit) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b := &pgx.Batch{}
	for i := range commits {
		c := &commits[i].Contact
		idk, sub := identityKey(c.Identity), subscriptionKey(c.SubscriptionID)
		if bm := commits[i].Bookmark; bm != "" {
			pos, err := BookmarkPositions(bm)
			if err != nil {
				pos = nil // never stale, as in the bbolt store
			}
			b.Queue(upsertBookmark, idk, sub, bm, string(positionsJSON(pos)), c.Node, c.At)
		}
		var hb, ev *time.Time
		events := 0
		if c.Heartbeat {
			hb = &c.At
		} else {
			ev = &c.At
			events = c.Events
		}
		b.Queue(upsertHost, idk, sub, c.Identity, c.SubscriptionID, c.Subscription, c.MachineID, c.Address, c.Node,
			c.At, hb, ev, int64(events))
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		if unavailable(err) {
			return fmt.Errorf("store batch state of %d hosts: %w: %w", len(commits), ErrStoreUnavailable, err)
		}
		return fmt.Errorf("store batch state of %d hosts: %w", len(commits), err)
	}
	return nil
}

// unavailable tells a database that cannot take writes (unreachable,
// shutting down, out of resources, a read-only standby after a failover)
// from a failure of the statements themselves. SQLSTATE classes from
// https://www.postgresql.org/docs/current/errcodes-appendix.html.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // no answer from the server at all
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "08"), // connection exception
		strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
		strings.HasPrefix(pgErr.Code, "57"), // operator intervention (shutdown)
		strings.HasPrefix(pgErr.Code, "58"), // system error
		pgErr.Code == "25006":               // read only SQL transaction
		return true
	}
	return false
}

// Hosts implements Store.
func (s *PostgresStore) Hosts(ctx context.Context) ([]HostState, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT identity, subscription_id, subscription, machine_id, address, node,
		first_seen, last_seen, last_heartbeat, last_event, events FROM hosts ORDER BY identity_key, subscription_key`)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HostState, error) {
		var st HostState
		var hb, ev *time.Time
		var events int64
		err := r.Scan(&st.Identity, &st.SubscriptionID, &st.Subscription, &st.MachineID, &st.Address, &st.Node,
			&st.FirstSeen, &st.LastSeen, &hb, &ev, &events)
		if hb != nil {
			st.LastHeartbeat = *hb
		}
		if ev != nil {
			st.LastEvent = *ev
		}
		st.Events = uint64(events)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return out, nil
}

// DeleteBookmark implements Store.
func (s *PostgresStore) DeleteBookmark(ctx context.Context, identity, subscriptionID string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, "DELETE FROM bookmarks WHERE identity_key = $1 AND subscription_id = $2",
		identityKey(identity), subscriptionKey(subscriptionID))
	if err != nil {
		return fmt.Errorf("delete bookmark of %s: %w", identity, err)
	}
	return nil
}

// Close implements Store.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

func identityKey(identity string) string { return strings.ToLower(identity) }

func subscriptionKey(id string) string { return strings.ToUpper(id) }
