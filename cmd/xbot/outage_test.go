package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
)

// proxy forwards TCP connections from a local port to target once started; before that the port refuses,
// like a database that is down.
type proxy struct {
	addr   string
	target string
}

func (p *proxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", p.target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}

// A worker started while the database is down waits for it (logging its retries), then comes up.
func TestWorkerStartsBeforeDatabase(t *testing.T) {
	t.Parallel()
	_, schema := dbtest.Schema(t)
	real, err := url.Parse(dbtest.SchemaURL(t, schema))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there until the proxy starts
	p := &proxy{addr: addr, target: real.Host}
	if !strings.Contains(p.target, ":") {
		p.target += ":5432"
	}
	down := *real
	down.Host = addr

	out := &syncBuffer{}
	m := newTestMain(t)
	m.Stdout, m.Stderr = out, out
	env := map[string]string{"DATABASE_URL": down.String(), "PORT": "0", "POSTING_DISABLED": "true"}
	m.LookupEnv = lookupIn(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"worker"}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("worker did not stop")
		}
		m.Close()
	})

	waitFor(t, "the retry line", 30*time.Second, func() bool {
		return strings.Contains(out.String(), "database unreachable; retrying")
	}, out.String)
	select {
	case <-m.Ready():
		t.Fatal("worker came up without a database")
	default:
	}
	p.start(t)
	select {
	case <-m.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("worker not up after the database came back\n%s", out.String())
	}
	require.Contains(t, out.String(), `worker started`)
}
