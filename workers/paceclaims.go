package workers

import (
	"context"
	"sync"
	"time"

	"github.com/xbot/xbot/store"
)

// paceClaims coalesces one replica's paced claims per account (group commit): while a claim statement of an
// account is in flight, the claims that arrive for it queue here, holding nothing, and go together in the
// next statement (store.ClaimPacedMany). One round trip and one durable commit then serve every post of the
// account that was waiting, instead of each parking a pooled connection behind the account's lock in turn.
// Across replicas the database's lock still serialises the statements.
type paceClaims struct {
	mu      sync.Mutex
	waiting map[int64][]*paceClaim // per account, the claims for the next statement
	busy    map[int64]bool         // an account whose claim loop is running
}

type paceClaim struct {
	claim   store.PaceClaim
	backend string
	pace    store.PostPace
	done    chan store.PaceResult // buffered: the loop never waits for a caller that gave up
}

func newPaceClaims() *paceClaims {
	return &paceClaims{waiting: map[int64][]*paceClaim{}, busy: map[int64]bool{}}
}

// claim queues c for the account's next statement and waits for its result. A caller whose ctx ends first
// returns ctx's error; its claim may still be made, which leaves the row posting without a send: the job's
// next run finds it so and reconciles (DESIGN.md section 5), as after a crash.
func (q *paceClaims) claim(ctx context.Context, st *store.Store, accountID int64, c *paceClaim) store.PaceResult {
	c.done = make(chan store.PaceResult, 1)
	q.mu.Lock()
	q.waiting[accountID] = append(q.waiting[accountID], c)
	if !q.busy[accountID] {
		q.busy[accountID] = true
		go q.run(st, accountID)
	}
	q.mu.Unlock()
	select {
	case r := <-c.done:
		return r
	case <-ctx.Done():
		return store.PaceResult{Err: ctx.Err()}
	}
}

// claimTimeout bounds one claim statement (the callers wait at most their job's own deadline).
const claimTimeout = 15 * time.Second

// run sends the account's waiting claims, a statement at a time, until none waits.
func (q *paceClaims) run(st *store.Store, accountID int64) {
	for {
		q.mu.Lock()
		batch := q.waiting[accountID]
		delete(q.waiting, accountID)
		if len(batch) == 0 {
			delete(q.busy, accountID)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		claims := make([]store.PaceClaim, len(batch))
		for i, c := range batch {
			claims[i] = c.claim
		}
		// One pace for the statement: the newest caller's (the same account's settings, read at the latest now).
		last := batch[len(batch)-1]
		ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
		res, err := st.ClaimPacedMany(ctx, st.Pool, accountID, last.backend, claims, last.pace)
		cancel()
		for i, c := range batch {
			if err != nil {
				c.done <- store.PaceResult{Err: err}
				continue
			}
			c.done <- res[i]
		}
	}
}
