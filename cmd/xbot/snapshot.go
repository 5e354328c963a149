package main

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// snapshot is a value computed from the database and shared by every request for ttl; one request at a
// time computes it, so a burst of scrapes costs one round of queries and cannot take the pool.
type snapshot[T any] struct {
	ttl     time.Duration
	timeout time.Duration // bounds one computation, whoever waits for it
	compute func(ctx context.Context) (T, error)
	now     func() time.Time

	mu  sync.Mutex
	val T
	at  time.Time
	has bool
	g   singleflight.Group
}

func newSnapshot[T any](ttl, timeout time.Duration, compute func(context.Context) (T, error)) *snapshot[T] {
	return &snapshot[T]{ttl: ttl, timeout: timeout, compute: compute, now: time.Now}
}

// get returns the cached value while fresh, else computes it (errors are not cached).
func (s *snapshot[T]) get(ctx context.Context) (T, error) {
	s.mu.Lock()
	if s.has && s.now().Sub(s.at) < s.ttl {
		v := s.val
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()
	ch := s.g.DoChan("", func() (any, error) {
		// Detached from the first caller: its going away must not fail the others waiting.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		v, err := s.compute(cctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.val, s.at, s.has = v, s.now(), true
		s.mu.Unlock()
		return v, nil
	})
	var zero T
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
