package xsim

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by a Store when the row asked for does not exist.
var ErrNotFound = errors.New("xsim: not found")

// State is the simulator's shared settings row.
type State struct {
	Seed        int64
	ClockOffset time.Duration // added to the Clock: how far the simulated time was advanced by hand
	DefaultRate float64       // engagement rate when no hidden rate matches
}

// User is a simulated X account.
type User struct {
	ID             int64
	Username       string
	Name           string
	Description    string
	FollowersCount int
	FollowingCount int
	ListedCount    int
	CreatedAt      time.Time
}

// Post is a stored post. Reach and EngagementRate are fixed at creation by the audience model.
type Post struct {
	ID              int64
	AuthorID        int64
	Text            string
	TextNorm        string
	InReplyToPostID int64 // 0: not a reply
	InReplyToUserID int64
	ConversationID  int64
	Mentions        []string // lower-cased usernames without '@'
	Features        Features
	Reach           float64
	EngagementRate  float64
	CreatedAt       time.Time
	DeletedAt       *time.Time
}

// Deleted reports whether the post was deleted.
func (p Post) Deleted() bool { return p.DeletedAt != nil }

// NewPost is what CreatePost inserts, with the rules the insert must check atomically.
type NewPost struct {
	Post Post // ID is assigned by the store

	// DuplicateSince: refuse when the author has a post with the same TextNorm created at or after it
	// (zero: no check).
	DuplicateSince time.Time
	// Limits counted over posts created at or after each window's start (Max 0: unlimited).
	UserWindow Window // per-author 15-minute window
	UserDay    Window // per-author 24-hour window
	AppDay     Window // all authors, 24-hour window
}

// Window is a fixed rate-limit window.
type Window struct {
	Start time.Time
	Max   int
}

// CreateResult says what CreatePost did. Counts include the new post when it was created.
type CreateResult struct {
	Post           Post
	Created        bool
	Duplicate      bool
	Limited        bool // one of the windows was full
	UserWindowUsed int
	UserDayUsed    int
	AppDayUsed     int
}

// PostQuery selects posts for timelines, mentions and search; results are newest first.
type PostQuery struct {
	AuthorID       int64    // 0: any author
	Mentioning     string   // lower-cased username: posts that mention it
	MentioningID   int64    // or reply to this user
	Contains       []string // every term, case-insensitive
	ExcludeReplies bool
	Since, Until   time.Time // created_at >= Since, < Until (zero: open)
	SinceID        int64     // id > SinceID
	UntilID        int64     // id < UntilID (also pagination)
	Limit          int
	IncludeDeleted bool
}

// Rate is one hidden engagement rate; "*" (or Hour -1) matches any value.
type Rate struct {
	Topic  string  `json:"topic"`
	Format string  `json:"format"`
	Hook   string  `json:"hook"`
	Hour   int     `json:"hour"`
	Rate   float64 `json:"rate"`
}

// Store is the simulator's state in Postgres. Implementations must be safe for concurrent use by
// several simulator instances.
type Store interface {
	// EnsureState inserts the state row with def when it is missing and returns the stored one.
	EnsureState(ctx context.Context, def State) (State, error)
	State(ctx context.Context) (State, error)
	AdvanceClock(ctx context.Context, by time.Duration) (State, error)
	SetDefaultRate(ctx context.Context, rate float64) error
	// NextMentionSeq reserves n numbers for seeded mentions and returns the first.
	NextMentionSeq(ctx context.Context, n int) (int64, error)

	UpsertUser(ctx context.Context, u User) error
	User(ctx context.Context, id int64) (User, error)
	Users(ctx context.Context, ids []int64) ([]User, error)
	UserByUsername(ctx context.Context, username string) (User, error)

	// CreatePost assigns an increasing snowflake-like id from createdAt and inserts the post unless a
	// rule in np refuses it, all under one lock so replicas cannot race past the rules.
	CreatePost(ctx context.Context, np NewPost) (CreateResult, error)
	// CountPosts counts posts (deleted included, as X does) created at or after since; authorID 0: all.
	CountPosts(ctx context.Context, authorID int64, since time.Time) (int, error)
	Post(ctx context.Context, id int64) (Post, error)
	Posts(ctx context.Context, ids []int64) ([]Post, error)
	DeletePost(ctx context.Context, id int64, at time.Time) error
	QueryPosts(ctx context.Context, q PostQuery) ([]Post, error)

	PutRate(ctx context.Context, r Rate) error
	Rates(ctx context.Context) ([]Rate, error)
	ClearRates(ctx context.Context) error

	// CountRequest adds one request to bucket's window and returns the count including it.
	CountRequest(ctx context.Context, bucket string, windowStart time.Time) (int, error)
	// PeekRequests returns the count without adding one.
	PeekRequests(ctx context.Context, bucket string, windowStart time.Time) (int, error)

	AddFault(ctx context.Context, f Fault) (Fault, error)
	Faults(ctx context.Context) ([]Fault, error)
	ClearFaults(ctx context.Context) error
	// TakeFault spends one of a counted fault's remaining uses; false when none are left.
	TakeFault(ctx context.Context, id int64) (bool, error)
	// NextRequestSeq is a database-wide request counter for seeded fault draws.
	NextRequestSeq(ctx context.Context) (int64, error)
}
