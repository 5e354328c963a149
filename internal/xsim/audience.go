package xsim

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"
)

// Features are what the audience model knows about a post beyond its text.
type Features struct {
	Topic  string `json:"topic"`
	Format string `json:"format"`
	Hook   string `json:"hook"`
	Hour   int    `json:"hour"` // 0..23; -1: the post's creation hour in UTC
}

// FeatureSource finds a post's features from its text; ok is false when it does not know the post.
// xbot wires one that looks the decision up by content; tests wire their own.
type FeatureSource interface {
	Features(ctx context.Context, text string) (f Features, ok bool, err error)
}

// FeatureFunc adapts a function to FeatureSource.
type FeatureFunc func(ctx context.Context, text string) (Features, bool, error)

// Features calls f.
func (f FeatureFunc) Features(ctx context.Context, text string) (Features, bool, error) {
	return f(ctx, text)
}

// Audience model constants: the share of followers a post reaches in the end, how fast it gets there,
// the noise around reach and rate, and how engagements split between kinds.
const (
	reachShare   = 0.4
	reachSigma   = 0.35
	rateSigma    = 0.25
	growthTau    = 6 * time.Hour
	maxPostRate  = 0.5
	minFollowers = 50
)

var engagementSplit = struct{ like, repost, reply, quote, bookmark float64 }{0.55, 0.12, 0.10, 0.05, 0.18}

// Metrics are a post's counts at one instant.
type Metrics struct {
	Impressions, Likes, Reposts, Replies, Quotes, Bookmarks int64
	URLLinkClicks, ProfileClicks                            int64
}

// Engagements is the sum the reward's engagement rate uses.
func (m Metrics) Engagements() int64 {
	return m.Likes + m.Reposts + m.Replies + m.Quotes + m.Bookmarks
}

// matchRate picks the most specific hidden rate matching f; def when none does.
func matchRate(rates []Rate, f Features, def float64) float64 {
	best, bestScore := def, -1
	for _, r := range rates {
		score := 0
		for _, p := range []struct{ want, got string }{{r.Topic, f.Topic}, {r.Format, f.Format}, {r.Hook, f.Hook}} {
			switch p.want {
			case "*", "":
			case p.got:
				score++
			default:
				score = -100
			}
		}
		switch r.Hour {
		case -1:
		case f.Hour:
			score++
		default:
			score = -100
		}
		if score > bestScore {
			best, bestScore = r.Rate, score
		}
	}
	return best
}

// postDraws are the post's two standard-normal noise draws, a pure function of the seed, the author
// and the text, so a seeded run reproduces every post's numbers whatever ids it got.
func postDraws(seed, authorID int64, text string) (z1, z2 float64) {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(authorID))
	h.Write(b[:])
	h.Write([]byte(text))
	x := h.Sum64()
	u := func() float64 {
		// splitmix64 step: spreads the hash into independent uniforms in (0,1)
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		return (float64(z>>11) + 0.5) / (1 << 53)
	}
	u1, u2 := u(), u()
	r := math.Sqrt(-2 * math.Log(u1))
	return r * math.Cos(2*math.Pi*u2), r * math.Sin(2*math.Pi*u2)
}

// plan fixes a new post's final reach and its own engagement rate from the hidden rate and noise.
func plan(seed int64, author User, text string, hidden float64) (reach, rate float64) {
	z1, z2 := postDraws(seed, author.ID, text)
	followers := math.Max(float64(author.FollowersCount), minFollowers)
	reach = followers * reachShare * math.Exp(reachSigma*z1)
	rate = math.Min(math.Max(hidden*math.Exp(rateSigma*z2), 0), maxPostRate)
	return reach, rate
}

// metricsAt is a post's metrics at now: impressions approach reach with time constant growthTau and
// engagements follow impressions at the post's rate, so every count only grows.
func metricsAt(p Post, now time.Time) Metrics {
	age := now.Sub(p.CreatedAt)
	if age <= 0 {
		return Metrics{}
	}
	g := 1 - math.Exp(-float64(age)/float64(growthTau))
	imp := math.Floor(p.Reach * g)
	e := imp * p.EngagementRate
	s := engagementSplit
	return Metrics{
		Impressions:   int64(imp),
		Likes:         int64(math.Floor(e * s.like)),
		Reposts:       int64(math.Floor(e * s.repost)),
		Replies:       int64(math.Floor(e * s.reply)),
		Quotes:        int64(math.Floor(e * s.quote)),
		Bookmarks:     int64(math.Floor(e * s.bookmark)),
		URLLinkClicks: int64(math.Floor(imp * 0.004)),
		ProfileClicks: int64(math.Floor(imp * 0.006)),
	}
}

// Simulate is the audience model for one post outside the server (offline evaluation such as
// `xbot sim-eval`): the metrics at at of a post by authorID with followers, text and hidden rate, created
// at createdAt, with the same noise draws the server would give it under seed.
func Simulate(seed, authorID int64, followers int, text string, hidden float64, createdAt, at time.Time) Metrics {
	reach, rate := plan(seed, User{ID: authorID, FollowersCount: followers}, text, hidden)
	return metricsAt(Post{Reach: reach, EngagementRate: rate, CreatedAt: createdAt}, at)
}
