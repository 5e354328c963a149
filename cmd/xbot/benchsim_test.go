package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xbot/xbot/internal/xsim"
)

// memSim is the simulator's state in memory, so the pipeline benchmark's X costs the pipeline's
// database nothing (X is someone else's machine in production). The rules are the simulator's own:
// duplicates and the posting windows are checked under one lock, ids increase.
type memSim struct {
	mu       sync.Mutex
	state    xsim.State
	hasState bool
	users    map[int64]xsim.User
	posts    []xsim.Post // in id order
	rates    []xsim.Rate
	requests map[string]int
	seq      int64
}

var _ xsim.Store = (*memSim)(nil)

func newMemSim() *memSim {
	return &memSim{users: map[int64]xsim.User{}, requests: map[string]int{}}
}

func (m *memSim) EnsureState(_ context.Context, def xsim.State) (xsim.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.hasState {
		m.state, m.hasState = def, true
	}
	return m.state, nil
}

func (m *memSim) State(context.Context) (xsim.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, nil
}

func (m *memSim) AdvanceClock(_ context.Context, by time.Duration) (xsim.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.ClockOffset += by
	return m.state, nil
}

func (m *memSim) SetDefaultRate(_ context.Context, rate float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.DefaultRate = rate
	return nil
}

func (m *memSim) NextMentionSeq(_ context.Context, n int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq += int64(n)
	return m.seq - int64(n) + 1, nil
}

func (m *memSim) UpsertUser(_ context.Context, u xsim.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.ID] = u
	return nil
}

func (m *memSim) User(_ context.Context, id int64) (xsim.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return u, xsim.ErrNotFound
	}
	return u, nil
}

func (m *memSim) Users(_ context.Context, ids []int64) ([]xsim.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []xsim.User
	for _, id := range ids {
		if u, ok := m.users[id]; ok {
			out = append(out, u)
		}
	}
	return out, nil
}

func (m *memSim) UserByUsername(_ context.Context, username string) (xsim.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if strings.EqualFold(u.Username, username) {
			return u, nil
		}
	}
	return xsim.User{}, xsim.ErrNotFound
}

// countSince counts posts created at or after since (author 0: all), scanning back from the newest.
func (m *memSim) countSince(author int64, since time.Time) int {
	n := 0
	for i := len(m.posts) - 1; i >= 0 && !m.posts[i].CreatedAt.Before(since); i-- {
		if author == 0 || m.posts[i].AuthorID == author {
			n++
		}
	}
	return n
}

func (m *memSim) CreatePost(_ context.Context, np xsim.NewPost) (xsim.CreateResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var res xsim.CreateResult
	p := np.Post
	if !np.DuplicateSince.IsZero() {
		for i := len(m.posts) - 1; i >= 0 && !m.posts[i].CreatedAt.Before(np.DuplicateSince); i-- {
			q := m.posts[i]
			if q.AuthorID == p.AuthorID && q.TextNorm == p.TextNorm && q.DeletedAt == nil {
				res.Duplicate = true
				return res, nil
			}
		}
	}
	full := func(w xsim.Window, author int64) (int, bool) {
		if w.Max <= 0 {
			return 0, false
		}
		n := m.countSince(author, w.Start)
		return n, n >= w.Max
	}
	var l1, l2, l3 bool
	res.UserWindowUsed, l1 = full(np.UserWindow, p.AuthorID)
	res.UserDayUsed, l2 = full(np.UserDay, p.AuthorID)
	res.AppDayUsed, l3 = full(np.AppDay, 0)
	if res.Limited = l1 || l2 || l3; res.Limited {
		return res, nil
	}
	m.seq++
	p.ID = max(p.CreatedAt.UnixMilli()<<22|m.seq&4194303, 1)
	if n := len(m.posts); n > 0 && p.ID <= m.posts[n-1].ID {
		p.ID = m.posts[n-1].ID + 1
	}
	if p.ConversationID == 0 {
		p.ConversationID = p.ID
	}
	m.posts = append(m.posts, p)
	res.Post, res.Created = p, true
	res.UserWindowUsed++
	res.UserDayUsed++
	res.AppDayUsed++
	return res, nil
}

func (m *memSim) CountPosts(_ context.Context, authorID int64, since time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.countSince(authorID, since), nil
}

func (m *memSim) find(id int64) (int, bool) {
	return slices.BinarySearchFunc(m.posts, id, func(p xsim.Post, id int64) int {
		switch {
		case p.ID < id:
			return -1
		case p.ID > id:
			return 1
		}
		return 0
	})
}

func (m *memSim) Post(_ context.Context, id int64) (xsim.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.find(id); ok {
		return m.posts[i], nil
	}
	return xsim.Post{}, xsim.ErrNotFound
}

func (m *memSim) Posts(_ context.Context, ids []int64) ([]xsim.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []xsim.Post
	for _, id := range ids {
		if i, ok := m.find(id); ok {
			out = append(out, m.posts[i])
		}
	}
	slices.SortFunc(out, func(a, b xsim.Post) int { return int(b.ID - a.ID) })
	return out, nil
}

func (m *memSim) DeletePost(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.find(id)
	if !ok || m.posts[i].DeletedAt != nil {
		return xsim.ErrNotFound
	}
	m.posts[i].DeletedAt = &at
	return nil
}

func (m *memSim) QueryPosts(_ context.Context, q xsim.PostQuery) ([]xsim.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []xsim.Post
	for i := len(m.posts) - 1; i >= 0; i-- {
		p := m.posts[i]
		switch {
		case !q.IncludeDeleted && p.DeletedAt != nil,
			q.AuthorID != 0 && p.AuthorID != q.AuthorID,
			(q.Mentioning != "" || q.MentioningID != 0) && (p.AuthorID == q.MentioningID ||
				!(slices.Contains(p.Mentions, q.Mentioning) || (q.MentioningID != 0 && p.InReplyToUserID == q.MentioningID))),
			q.ExcludeReplies && p.InReplyToPostID != 0,
			!q.Since.IsZero() && p.CreatedAt.Before(q.Since),
			!q.Until.IsZero() && !p.CreatedAt.Before(q.Until),
			q.SinceID != 0 && p.ID <= q.SinceID,
			q.UntilID != 0 && p.ID >= q.UntilID:
			continue
		}
		if !containsAll(p.Text, q.Contains) {
			continue
		}
		out = append(out, p)
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

func containsAll(text string, terms []string) bool {
	lower := strings.ToLower(text)
	for _, t := range terms {
		if !strings.Contains(lower, strings.ToLower(t)) {
			return false
		}
	}
	return true
}

func (m *memSim) PutRate(_ context.Context, r xsim.Rate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rates = append(m.rates, r)
	return nil
}

func (m *memSim) Rates(context.Context) ([]xsim.Rate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rates), nil
}

func (m *memSim) ClearRates(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rates = nil
	return nil
}

func (m *memSim) CountRequest(_ context.Context, bucket string, windowStart time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := bucket + "@" + windowStart.UTC().Format(time.RFC3339)
	m.requests[key]++
	return m.requests[key], nil
}

func (m *memSim) PeekRequests(_ context.Context, bucket string, windowStart time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[bucket+"@"+windowStart.UTC().Format(time.RFC3339)], nil
}

// The benchmark injects no faults.
func (m *memSim) AddFault(_ context.Context, f xsim.Fault) (xsim.Fault, error) { return f, nil }
func (m *memSim) Faults(context.Context) ([]xsim.Fault, error)                 { return nil, nil }
func (m *memSim) ClearFaults(context.Context) error                            { return nil }
func (m *memSim) TakeFault(context.Context, int64) (bool, error)               { return false, nil }

func (m *memSim) NextRequestSeq(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	return m.seq, nil
}
