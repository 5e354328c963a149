// Package childproc owns how tests and benchmarks start the programs they run (xbot replicas, the
// simulator, PgBouncer): each in its own process group, so a test can signal the whole group, and, on
// Linux, killed when the process that started it dies, so a test binary killed by a timeout or by hand
// leaves no replica holding database connections behind. AsUser starts a program as another user (PgBouncer,
// which refuses root) without losing that signal.
package childproc
