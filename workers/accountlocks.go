package workers

import (
	"context"
	"sync"
)

// accountLocks serialise, inside one replica, work that the database serialises per account anyway (a post's
// paced claim, under the account's advisory lock): a job waits here, holding nothing, instead of on a pooled
// connection parked behind the database's lock, which would starve every other job of connections. Across
// replicas the database's lock still decides.
type accountLocks struct {
	mu sync.Mutex
	m  map[int64]*accountLock
}

type accountLock struct {
	held chan struct{} // one slot: full while held
	refs int           // holders and waiters; the entry goes when none is left
}

func newAccountLocks() *accountLocks { return &accountLocks{m: map[int64]*accountLock{}} }

// lock waits for the account's lock or ctx's end; unlock releases it.
func (l *accountLocks) lock(ctx context.Context, accountID int64) (unlock func(), err error) {
	l.mu.Lock()
	a := l.m[accountID]
	if a == nil {
		a = &accountLock{held: make(chan struct{}, 1)}
		l.m[accountID] = a
	}
	a.refs++
	l.mu.Unlock()
	select {
	case a.held <- struct{}{}:
		return func() {
			<-a.held
			l.release(accountID, a)
		}, nil
	case <-ctx.Done():
		l.release(accountID, a)
		return nil, ctx.Err()
	}
}

func (l *accountLocks) release(accountID int64, a *accountLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.refs--; a.refs == 0 {
		delete(l.m, accountID)
	}
}
