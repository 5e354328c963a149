package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/store"
)

var pkg struct {
	once sync.Once
	url  string // the package database's URL
	pool *pgxpool.Pool
	err  error
}

// Main is TestMain's body: it creates a database for this test binary, migrates it, runs the tests and
// drops the database.
func Main(m *testing.M) {
	code := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := setup(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
		defer teardown()
		return m.Run()
	}()
	os.Exit(code)
}

// ServerURL is the server tests run against: DATABASE_URL or the design's default.
func ServerURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return config.DefaultDatabaseURL
}

var dbName string

func setup(ctx context.Context) error {
	base := ServerURL()
	admin, err := adminConn(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s (set DATABASE_URL or run make db): %w", redacted(base), err)
	}
	defer admin.Close(ctx)
	dbName = "xbot_test_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize()); err != nil {
		return fmt.Errorf("create test database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	u.Path = "/" + dbName
	pkg.url = u.String()
	pkg.pool, err = newPool(ctx, pkg.url, "", 8)
	if err != nil {
		return err
	}
	if err := whenServerHasRoom(ctx, func() error { _, err := store.Migrate(ctx, pkg.pool, ""); return err }); err != nil {
		return fmt.Errorf("migrate test database: %w", err)
	}
	return nil
}

func teardown() {
	if pkg.pool != nil {
		pkg.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := adminConn(ctx)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
}

// adminConn connects to DATABASE_URL's database, or to the server's "postgres" database when that one
// does not exist yet: tests need the server, not xbot's own database.
func adminConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, ServerURL())
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		return conn, err
	}
	u, perr := url.Parse(ServerURL())
	if perr != nil {
		return nil, err
	}
	u.Path = "/postgres"
	return pgx.Connect(ctx, u.String())
}

func newPool(ctx context.Context, dbURL, schema string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse test database url: %w", err)
	}
	cfg.MaxConns = maxConns
	// Test binaries run side by side on one server (PostgreSQL's max_connections is 100 by default):
	// a pool gives back what it no longer uses within seconds instead of holding its peak for 30 minutes.
	cfg.MaxConnIdleTime = 2 * time.Second
	// ...but keeps two open, so a test's own queries do not have to win a slot on a busy server.
	cfg.MinConns = 2
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open test pool: %w", err)
	}
	return pool, nil
}

// Pool is the package's shared, migrated database. Tests that write should use Tx or Schema instead.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	if pkg.pool == nil {
		tb.Fatal("dbtest: no test database; call dbtest.Main from TestMain")
	}
	return pkg.pool
}

// URL is the package database's connection URL (for starting the real program in a test).
func URL(tb testing.TB) string {
	tb.Helper()
	Pool(tb)
	return pkg.url
}

// Tx returns a transaction on the package database that is rolled back when the test ends.
func Tx(tb testing.TB) pgx.Tx {
	tb.Helper()
	ctx := context.Background()
	tx, err := Pool(tb).Begin(ctx)
	if err != nil {
		tb.Fatalf("dbtest: begin: %v", err)
	}
	tb.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// Schema creates a fresh schema, migrates River's tables and ours into it, and returns a pool whose
// search_path is that schema, plus its name. Both are dropped when the test ends.
func Schema(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	ctx := context.Background()
	schema := "t_" + randomHex(6)
	if err := whenServerHasRoom(ctx, func() error { _, err := Pool(tb).Exec(ctx, "CREATE SCHEMA "+schema); return err }); err != nil {
		tb.Fatalf("dbtest: create schema: %v", err)
	}
	pool, err := newPool(ctx, pkg.url, schema, 6)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		_, _ = Pool(tb).Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	if err := whenServerHasRoom(ctx, func() error { _, err := store.Migrate(ctx, pool, schema); return err }); err != nil {
		tb.Fatalf("dbtest: migrate schema %s: %v", schema, err)
	}
	return pool, schema
}

// whenServerHasRoom runs fn, and again with backoff for up to two minutes while the server refuses new
// connections because it is full (SQLSTATE 53300: other test binaries on the same server). A test's setup
// waits for room instead of failing; any other error returns at once.
func whenServerHasRoom(ctx context.Context, fn func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, 2*time.Minute
	return backoff.Retry(func() error {
		err := fn()
		if err != nil && !store.ServerFull(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx))
}

// SchemaURL is a connection URL whose search_path is schema, for a separate process or pool.
func SchemaURL(tb testing.TB, schema string) string {
	tb.Helper()
	u, err := url.Parse(URL(tb))
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable url]"
	}
	return u.Redacted()
}
