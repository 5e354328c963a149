package gate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Gate names, as logged in [GATE_CHAIN] lines and stored as skip_reason prefixes.
const (
	GateQuality    = "quality"
	GateSafety     = "safety"
	GateUniqueness = "uniqueness"
	GateRotation   = "rotation"
)

// History is the account's recent output, which the uniqueness and rotation gates compare against.
type History interface {
	// RecentTexts returns the texts of the account's posts and replies created since since, in the
	// statuses that are or will be public (queued, posting, posted) or awaiting a person (pending_approval).
	RecentTexts(ctx context.Context, accountID int64, since time.Time) ([]string, error)
	// TopicCounts returns, for the account's posts (not replies) created since since in the statuses
	// queued, posting and posted, the count per topic and the total.
	TopicCounts(ctx context.Context, accountID int64, since time.Time) (counts map[string]int, total int, err error)
}

// Config configures a Chain. The four thresholds are taken as given (the config package owns their
// defaults: MIN_QUALITY_SCORE, UNIQUENESS_THRESHOLD, ROTATION_MAX_SHARE, ROTATION_MIN_POSTS) and
// validated; the rest default by cmp.Or when zero.
type Config struct {
	MinQualityScore     float64 // in [0, 1]: a local quality score below it blocks
	UniquenessThreshold float64 // in [0, 1]: a similarity at or above it blocks
	RotationMaxShare    float64 // in [0, 1]: a topic share above it blocks
	RotationMinPosts    int     // >= 0: rotation applies once the window holds this many posts

	// WeightedLength is X's weighted length of a text (required: X counts URLs, CJK and emoji its own way).
	WeightedLength func(string) int
	// Now is the clock (default time.Now).
	Now func() time.Time

	MaxLength        int           // default 280
	MaxHashtags      int           // default 2
	MaxEmoji         int           // default 2
	UniquenessWindow time.Duration // default 30 days
	RotationWindow   time.Duration // default 7 days
	// DenyTerms are extra words or phrases that block at the safety gate, matched on word boundaries.
	DenyTerms []string
}

// Candidate is one text the chain judges.
type Candidate struct {
	Text  string
	Topic string // the topic arm; empty skips rotation (replies)
	// AllowedHandles are the @handles the prompt supplied (a reply target's username); others block.
	AllowedHandles []string
	// AllowedURLs are the links the prompt supplied; others block.
	AllowedURLs []string
	// PromptEcho are our prompt texts (system prompt, VOICE_PROMPT); a long verbatim overlap blocks.
	PromptEcho []string
}

// Verdict is the chain's decision on one candidate. A block names its gate and a short reason.
type Verdict struct {
	Passed       bool
	Gate         string
	Reason       string
	QualityScore float64 // the quality gate's score, also set when a later gate blocks
}

// Chain runs the gates. It is safe for concurrent use.
type Chain struct {
	cfg     Config
	history History
	deny    [][]string
}

// New validates cfg and returns a chain over history.
func New(cfg Config, history History) (*Chain, error) {
	if history == nil {
		return nil, errors.New("gate: nil History")
	}
	if cfg.WeightedLength == nil {
		return nil, errors.New("gate: Config.WeightedLength is required")
	}
	for name, v := range map[string]float64{"MinQualityScore": cfg.MinQualityScore,
		"UniquenessThreshold": cfg.UniquenessThreshold, "RotationMaxShare": cfg.RotationMaxShare} {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("gate: Config.%s=%v: must be in [0, 1]", name, v)
		}
	}
	if cfg.RotationMinPosts < 0 || cfg.MaxLength < 0 || cfg.MaxHashtags < 0 || cfg.MaxEmoji < 0 ||
		cfg.UniquenessWindow < 0 || cfg.RotationWindow < 0 {
		return nil, errors.New("gate: negative limit in Config")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MaxLength = cmp.Or(cfg.MaxLength, 280)
	cfg.MaxHashtags = cmp.Or(cfg.MaxHashtags, 2)
	cfg.MaxEmoji = cmp.Or(cfg.MaxEmoji, 2)
	cfg.UniquenessWindow = cmp.Or(cfg.UniquenessWindow, 30*24*time.Hour)
	cfg.RotationWindow = cmp.Or(cfg.RotationWindow, 7*24*time.Hour)
	c := &Chain{cfg: cfg, history: history}
	for _, t := range append(defaultDenyTerms(), cfg.DenyTerms...) {
		if w := words(t); len(w) > 0 {
			c.deny = append(c.deny, w)
		}
	}
	return c, nil
}

// Check judges a batch in order. Candidates that pass count, for the uniqueness and rotation of later
// ones in the batch, as if already queued. A gate that fails inside (a panic, an impossible value) blocks
// its candidate with the reason. An error is returned only when the history cannot be read or ctx is
// done; then no candidate passes and the caller should retry rather than store blocks.
func (c *Chain) Check(ctx context.Context, accountID int64, batch []Candidate) ([]Verdict, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gate check: %w", err)
	}
	now := c.cfg.Now()
	texts, err := c.history.RecentTexts(ctx, accountID, now.Add(-c.cfg.UniquenessWindow))
	if err != nil {
		return nil, fmt.Errorf("gate check: recent texts of account %d: %w", accountID, err)
	}
	counts, total, err := c.history.TopicCounts(ctx, accountID, now.Add(-c.cfg.RotationWindow))
	if err != nil {
		return nil, fmt.Errorf("gate check: topic counts of account %d: %w", accountID, err)
	}
	st := &batchState{counts: make(map[string]int, len(counts)), total: total}
	for k, v := range counts {
		st.counts[k] = v
	}
	for _, t := range texts {
		st.seen = append(st.seen, tokenSet(t))
	}

	out := make([]Verdict, len(batch))
	for i, cand := range batch {
		out[i] = c.checkOne(cand, st)
		if out[i].Passed {
			st.seen = append(st.seen, tokenSet(cand.Text))
			if cand.Topic != "" {
				st.counts[cand.Topic]++
				st.total++
			}
		}
	}
	return out, nil
}

// batchState is the history plus the batch's passed candidates.
type batchState struct {
	seen   []map[string]struct{}
	counts map[string]int
	total  int
}

func (c *Chain) checkOne(cand Candidate, st *batchState) (v Verdict) {
	gateName := GateQuality
	defer func() {
		// Fail closed: a gate that panics blocks its candidate.
		if r := recover(); r != nil {
			v = Verdict{Gate: gateName, Reason: fmt.Sprintf("gate error: %v", r), QualityScore: v.QualityScore}
		}
	}()
	score, reason := c.quality(cand)
	v.QualityScore = score
	if reason != "" {
		return block(v, GateQuality, reason)
	}
	gateName = GateSafety
	if reason := c.safety(cand); reason != "" {
		return block(v, GateSafety, reason)
	}
	gateName = GateUniqueness
	if reason := c.uniqueness(cand, st); reason != "" {
		return block(v, GateUniqueness, reason)
	}
	gateName = GateRotation
	if reason := c.rotation(cand, st); reason != "" {
		return block(v, GateRotation, reason)
	}
	v.Passed = true
	return v
}

func block(v Verdict, gate, reason string) Verdict {
	v.Passed, v.Gate, v.Reason = false, gate, reason
	return v
}

// SkipReason is the text stored in content_metadata.skip_reason for a blocked verdict: "gate: reason".
func (v Verdict) SkipReason() string {
	if v.Passed {
		return ""
	}
	return v.Gate + ": " + strings.TrimSpace(v.Reason)
}

// Rotation is the rotation gate's view of an account's recent topics, read once (one query) for all the
// picks of a plan.
type Rotation struct {
	c      *Chain
	counts map[string]int
	total  int
}

// Rotation reads the account's topic counts inside ROTATION_WINDOW.
func (c *Chain) Rotation(ctx context.Context, accountID int64) (*Rotation, error) {
	counts, total, err := c.history.TopicCounts(ctx, accountID, c.cfg.Now().Add(-c.cfg.RotationWindow))
	if err != nil {
		return nil, fmt.Errorf("rotation: topic counts of account %d: %w", accountID, err)
	}
	return &Rotation{c: c, counts: counts, total: total}, nil
}

// Open returns the topics among topics that the rotation gate would let through next, with picked
// (topics already chosen for this batch) counted as if queued, so a plan samples only topics its drafts
// can pass with. Before rotation applies, or when it would block them all, every topic.
func (r *Rotation) Open(topics, picked []string) []string {
	st := &batchState{counts: make(map[string]int, len(r.counts)), total: r.total + len(picked)}
	for k, v := range r.counts {
		st.counts[k] = v
	}
	for _, p := range picked {
		st.counts[p]++
	}
	var open []string
	for _, t := range topics {
		if r.c.rotation(Candidate{Topic: t}, st) == "" {
			open = append(open, t)
		}
	}
	if len(open) == 0 {
		return topics
	}
	return open
}
