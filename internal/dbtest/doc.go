// Package dbtest owns the test database setup shared by every package's tests: a TestMain-level
// database per test binary (migrated once), a rolled-back transaction per test, or, for tests that must
// commit (running River clients, concurrency), a freshly migrated schema per test. It is imported by
// tests only. DATABASE_URL (or the design's default) names the server.
package dbtest
