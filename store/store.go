package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBTX is what every store method runs on: a *pgxpool.Pool, a *pgxpool.Conn or a pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is the entry point to xbot's tables. It is safe for concurrent use.
type Store struct {
	Pool *pgxpool.Pool
	// Now is the clock; tests inject their own.
	Now func() time.Time
}

// New returns a Store over pool with the wall clock.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Pool: pool, Now: time.Now}
}

// InTx runs fn in a transaction on the pool, committing when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, fn)
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// notFound maps pgx.ErrNoRows to ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// PoolOptions shape the pool beyond what the URL says.
type PoolOptions struct {
	// MaxConns caps the pool; 0 keeps the URL's pool_max_conns or pgx's default.
	MaxConns int
	// TransactionPooling: the server side is a transaction-mode pooler (PgBouncer), which cannot keep named
	// prepared statements across transactions, so statements are described, not prepared, unless the URL
	// chooses a default_query_exec_mode itself.
	TransactionPooling bool
}

// Open opens a pool for url without waiting for the database: connections are made on first use.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return OpenWith(ctx, url, PoolOptions{})
}

// Connect opens a pool for url, checking that the database answers.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return ConnectWith(ctx, url, PoolOptions{})
}

// OpenWith is Open with pool options.
func OpenWith(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", redactURLError(err))
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = int32(o.MaxConns)
	}
	if o.TransactionPooling && !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	return pool, nil
}

// ConnectWith is Connect with pool options.
func ConnectWith(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	pool, err := OpenWith(ctx, url, o)
	if err != nil {
		return nil, err
	}
	cfg := pool.Config()
	if err := pingWhenServerHasRoom(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// serverFullWait is how long a process starting while PostgreSQL is full waits for a connection slot.
const serverFullWait = 30 * time.Second

// pingWhenServerHasRoom pings the database. While the server refuses connections because it is full
// (SQLSTATE 53300: max_connections reached by other processes, whose connections come and go) it pings
// again with backoff for up to serverFullWait; any other error returns at once.
func pingWhenServerHasRoom(ctx context.Context, pool *pgxpool.Pool) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, serverFullWait
	err := backoff.Retry(func() error {
		err := pool.Ping(ctx)
		if err != nil && !ServerFull(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx))
	if ServerFull(err) {
		return fmt.Errorf("the server stayed full (max_connections) for %s: %w", serverFullWait, err)
	}
	return err
}

// ServerFull reports whether err is PostgreSQL refusing a connection because max_connections is reached.
func ServerFull(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.TooManyConnections
}

// redactURLError drops the parse error's text, which may quote the URL and its password.
func redactURLError(error) error { return errors.New("invalid connection string") }
