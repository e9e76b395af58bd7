package subscriptions

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// State backends.
const (
	// BackendBolt is the embedded bbolt file in the data directory: one
	// node.
	BackendBolt = "bolt"
	// BackendPostgres is a PostgreSQL database shared by every node.
	BackendPostgres = "postgres"
)

// DefaultPostgresTimeout bounds one store operation (a group commit, a
// bookmark read).
const DefaultPostgresTimeout = 10 * time.Second

// StateConfig is the "state" section: where bookmarks and host states
// live.
type StateConfig struct {
	// Backend is bolt (default, one node) or postgres (several nodes).
	Backend  string         `yaml:"backend"`
	Postgres PostgresConfig `yaml:"postgres"`
}

// PostgresConfig is the "state.postgres" section.
type PostgresConfig struct {
	// URL is a libpq connection URL or key=value string, e.g.
	// postgres://wefgate@db.corp.example:5432/wefgate?sslmode=verify-full.
	// The password may come from PGPASSWORD or ~/.pgpass instead.
	URL string `yaml:"url"`
	// MaxConnections is the pool size per node (0: pgx's default, the greater
	// of 4 and the number of CPUs). Group commit keeps one connection busy
	// per group in flight, so a few are enough.
	MaxConnections int32 `yaml:"max_connections"`
	// Timeout bounds one store operation (0: 10 s).
	Timeout time.Duration `yaml:"timeout"`
	// CAFile verifies the database's certificate (and turns TLS on with
	// full verification, whatever sslmode says); CertFile and KeyFile are
	// a client certificate for the database.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DefaultState is the embedded single-node store.
func DefaultState() StateConfig {
	return StateConfig{Backend: BackendBolt}
}

// Validate checks the section; errors name the offending key.
func (c *StateConfig) Validate() error {
	switch c.Backend {
	case "", BackendBolt, BackendPostgres:
	default:
		return fmt.Errorf("state.backend: %q is not bolt or postgres", c.Backend)
	}
	p := &c.Postgres
	if c.Backend == BackendPostgres && p.URL == "" {
		return errors.New("state.postgres.url: required with state.backend: postgres")
	}
	if p.URL != "" {
		if _, err := pgxpool.ParseConfig(p.URL); err != nil {
			return fmt.Errorf("state.postgres.url: %w", err)
		}
	}
	if p.MaxConnections < 0 {
		return fmt.Errorf("state.postgres.max_connections: %d is negative", p.MaxConnections)
	}
	if p.Timeout < 0 {
		return fmt.Errorf("state.postgres.timeout: %s is negative", p.Timeout)
	}
	if (p.CertFile == "") != (p.KeyFile == "") {
		return errors.New("state.postgres.cert_file and state.postgres.key_file: set both or neither")
	}
	return nil
}

func (p *PostgresConfig) poolConfig() (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(p.URL)
	if err != nil {
		return nil, fmt.Errorf("state.postgres.url: %w", err)
	}
	if p.MaxConnections > 0 {
		pc.MaxConns = p.MaxConnections
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if p.CAFile != "" || p.CertFile != "" {
		tc := &tls.Config{ServerName: pc.ConnConfig.Host, MinVersion: tls.VersionTLS12}
		if pc.ConnConfig.TLSConfig != nil {
			tc = pc.ConnConfig.TLSConfig.Clone()
		}
		if p.CAFile != "" {
			pem, err := os.ReadFile(p.CAFile)
			if err != nil {
				return nil, fmt.Errorf("state.postgres.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("state.postgres.ca_file: no PEM certificate in %s", p.CAFile)
			}
			tc.RootCAs, tc.InsecureSkipVerify, tc.VerifyPeerCertificate = pool, false, nil
			tc.ServerName = pc.ConnConfig.Host
		}
		if p.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("state.postgres.cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		pc.ConnConfig.TLSConfig = tc
		// No plain-text fallback once TLS material is configured.
		pc.ConnConfig.Fallbacks = nil
	}
	return pc, nil
}

// OpenState opens the configured backend behind a Grouped committer that
// stamps contacts with node. boltPath is the bbolt file of the bolt
// backend.
func OpenState(ctx context.Context, c StateConfig, boltPath, node string) (*Grouped, error) {
	var b Backend
	switch c.Backend {
	case BackendPostgres:
		s, err := OpenPostgres(ctx, c.Postgres)
		if err != nil {
			return nil, err
		}
		b = s
	default:
		s, err := OpenBolt(boltPath)
		if err != nil {
			return nil, err
		}
		b = s
	}
	return NewGrouped(b, node, 0), nil
}
