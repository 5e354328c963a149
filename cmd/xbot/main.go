package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

func main() {
	// The first SIGINT/SIGTERM stops softly (in-flight posts finish); a second one stops hard.
	soft, stopSoft := context.WithCancel(context.Background())
	hard, stopHard := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		stopSoft()
		<-sigs
		stopHard()
	}()
	m := NewMain()
	m.HardStop = hard
	err := m.Run(soft, os.Args[1:])
	m.Close()
	os.Exit(exitCode(m.Stderr, err))
}

// ExitError carries a process exit code; its message (if any) is printed as is.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(stderr, ee.Msg)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "xbot:", err)
	return 1
}

// Main is the program: Run executes one subcommand (blocking for servers until ctx ends), Close releases
// whatever Run opened. Tests construct it with their own environment and writers.
type Main struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader // xbot accounts add/rotate read credentials here
	LookupEnv      func(string) (string, bool)
	// HardStop, when cancelled, abandons graceful shutdown (the second signal).
	HardStop context.Context
	// XTransport, when set, carries every X API call the program makes (tests set a transport that checks
	// each exchange against X's spec); nil: the default transport.
	XTransport http.RoundTripper

	// ready is closed once a server subcommand is serving; Addr is then its listen address.
	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	addr      string
	closers   []func()
}

// NewMain returns a Main wired to the process.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, LookupEnv: os.LookupEnv, HardStop: context.Background(), ready: make(chan struct{})}
}

// Ready is closed when a server subcommand is serving.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// Addr is the HTTP address of a serving subcommand.
func (m *Main) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

func (m *Main) markReady(addr string) {
	m.mu.Lock()
	m.addr = addr
	m.mu.Unlock()
	m.readyOnce.Do(func() { close(m.ready) })
}

// xHTTPClient is the HTTP client of the program's X clients (nil: xapi's default).
func (m *Main) xHTTPClient() *http.Client {
	if m.XTransport == nil {
		return nil
	}
	return &http.Client{Transport: m.XTransport}
}

func (m *Main) onClose(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closers = append(m.closers, f)
}

// Close releases what Run opened, last opened first.
func (m *Main) Close() {
	m.mu.Lock()
	closers := m.closers
	m.closers = nil
	m.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// command is one subcommand.
type command struct {
	summary string
	usage   string
	// devDefaults: xbot dev flips POSTING_DISABLED and LOG_FORMAT defaults.
	devDefaults bool
	flags       func(fs *flag.FlagSet) any
	run         func(ctx context.Context, m *Main, e *env, opts any, args []string) error
}

func (m *Main) commands() map[string]*command {
	return map[string]*command{
		"migrate":  cmdMigrate(),
		"accounts": cmdAccounts(),
		"web":      cmdWeb(),
		"dev":      cmdDev(),
		"status":   cmdStatus(),
		"enqueue":  cmdEnqueue(),
		"x":        cmdX(),
		"llm":      cmdLLM(),
		"worker":   cmdWorker(),
		"sim":      cmdSim(),
		"sim-eval": cmdSimEval(),
		"pause":    cmdPause(),
		"resume":   cmdResume(),
		"review":   cmdReview(),
		"approve":  cmdApprove(),
		"reject":   cmdReject(),
	}
}

func (m *Main) usage() string {
	var b strings.Builder
	b.WriteString("usage: xbot <command> [flags]\n\ncommands:\n")
	cmds := m.commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'xbot <command> --help' for a command's flags. Configuration comes from the environment (see README).")
	return b.String()
}

// Run executes the subcommand named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if m.ready == nil {
		m.ready = make(chan struct{})
	}
	if m.HardStop == nil {
		m.HardStop = context.Background()
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(m.Stdout, m.usage())
		if len(args) == 0 {
			return &ExitError{Code: 2}
		}
		return nil
	}
	cmd, ok := m.commands()[args[0]]
	if !ok {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("xbot: unknown command %q\n%s", args[0], m.usage())}
	}
	fs := flag.NewFlagSet("xbot "+args[0], flag.ContinueOnError)
	fs.SetOutput(m.Stdout)
	var opts any
	if cmd.flags != nil {
		opts = cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(m.Stdout, "usage: xbot %s %s\n\n%s\n", args[0], cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2}
	}
	defaults := config.Defaults{PostingDisabled: true, LogFormat: "json"}
	if cmd.devDefaults {
		defaults = config.Defaults{PostingDisabled: false, LogFormat: "console"}
	}
	cfg, err := config.Parse(m.LookupEnv, defaults)
	if err != nil {
		return &ExitError{Code: 2, Msg: err.Error()}
	}
	log, err := telemetry.NewLogger(m.Stdout, telemetry.LogConfig{Format: cfg.LogFormat, Level: cfg.LogLevel})
	if err != nil {
		return &ExitError{Code: 2, Msg: "config: " + err.Error()}
	}
	m.onClose(func() { _ = log.Sync() })
	e := &env{cfg: cfg, log: log.With(zap.String("cmd", args[0]))}
	return cmd.run(ctx, m, e, opts, fs.Args())
}

// env is what every subcommand gets: the parsed configuration and a logger; the database on demand.
type env struct {
	cfg  *config.Config
	log  *zap.Logger
	pool *pgxpool.Pool
	// simClock is the built-in simulator's clock (xbot dev: accelerated); nil: the wall clock.
	simClock xsim.Clock
	obs      envObservability
}

// db opens the pool once, checking that the database answers.
func (e *env) db(ctx context.Context, m *Main) (*pgxpool.Pool, error) {
	return e.open(ctx, m, store.ConnectWith)
}

// lazyDB opens the pool once without waiting for the database (for processes that wait for it themselves).
func (e *env) lazyDB(ctx context.Context, m *Main) (*pgxpool.Pool, error) {
	return e.open(ctx, m, store.OpenWith)
}

// poolOptions are DATABASE_MAX_CONNS and DATABASE_POOLER for the process's pool.
func poolOptions(cfg *config.Config) store.PoolOptions {
	return store.PoolOptions{MaxConns: cfg.DatabaseMaxConns, TransactionPooling: cfg.DatabasePooler == config.PoolerPgBouncer}
}

func (e *env) open(ctx context.Context, m *Main, open func(context.Context, string, store.PoolOptions) (*pgxpool.Pool, error)) (*pgxpool.Pool, error) {
	if e.pool != nil {
		return e.pool, nil
	}
	pool, err := open(ctx, e.cfg.DatabaseURL, poolOptions(e.cfg))
	if err != nil {
		return nil, err
	}
	e.pool = pool
	m.onClose(pool.Close)
	return pool, nil
}
