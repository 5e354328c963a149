package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StageCount is the number of an account's decisions of one type in one status (and skip reason).
type StageCount struct {
	DecisionType string
	Status       string
	SkipReason   string
	Count        int64
}

// PageDecision is one of the newest decisions, with its outcome when measured.
type PageDecision struct {
	DecisionID   string
	DecisionType string
	Status       string
	Source       string
	Topic        string
	Format       string
	Hook         string
	HourBucket   *int16
	Content      string
	SkipReason   string
	ScheduledAt  time.Time
	PostedAt     *time.Time
	ER           *float64
	Impressions  *int64
}

// Lateness summarises posted_at - scheduled_at of the posts made since a time.
type Lateness struct {
	Posts         int64
	P50, P99, Max time.Duration
}

// EngagementPoint is the cumulative impressions and engagements of an account's measured posts up to and
// including the N-th (in posting order).
type EngagementPoint struct {
	N           int64
	PostedAt    time.Time
	Impressions int64
	Engagements int64
}

// EngagementCell is the measured impressions and engagements of the posts that used one combination of arms.
type EngagementCell struct {
	Topic, Format, Hook, Hour string
	Posts                     int64
	Impressions               int64
	Engagements               int64
}

// StatusPage is what the status page shows of one account.
type StatusPage struct {
	Stages          []StageCount
	Outcomes        int64 // measured decisions
	Learned         int64 // outcomes folded into the arms
	LearningVersion int
	LastLearnedAt   *time.Time
	ExploreRatio    *float64
	Newest          []PageDecision
	Lateness        Lateness
	Arms            []ArmRow
	// Series is the cumulative engagement of measured original posts, at most MaxPoints points (always the
	// first and the last); Cells is the same posts per combination of arms.
	Series []EngagementPoint
	Cells  []EngagementCell
}

// StatusPageQuery says what StatusPage reads.
type StatusPageQuery struct {
	AccountID int64
	// Since bounds the lateness figures (posts made at or after it).
	Since time.Time
	// RealOnly: only outcomes read from X (simulated=false) count, as in live mode.
	RealOnly  bool
	Newest    int
	MaxPoints int
}

// StatusPage reads the figures of the status page.
func (s *Store) StatusPage(ctx context.Context, db DBTX, q StatusPageQuery) (*StatusPage, error) {
	p := &StatusPage{}
	for _, step := range []func(context.Context, DBTX, StatusPageQuery, *StatusPage) error{
		pageStages, pageLearning, pageNewest, pageLateness, pageArms, pageEngagement,
	} {
		if err := step(ctx, db, q, p); err != nil {
			return nil, fmt.Errorf("status page of account %d: %w", q.AccountID, err)
		}
	}
	return p, nil
}

func pageStages(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	// A skip reason reads "gate: detail"; the gate (or cap) is what the page counts by.
	rows, err := db.Query(ctx, `SELECT decision_type, status, COALESCE(split_part(skip_reason, ':', 1), ''), count(*)
		FROM content_metadata WHERE account_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, q.AccountID)
	if err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	p.Stages, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StageCount, error) {
		var c StageCount
		return c, r.Scan(&c.DecisionType, &c.Status, &c.SkipReason, &c.Count)
	})
	if err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	return nil
}

func pageLearning(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	err := db.QueryRow(ctx, `SELECT count(*), count(learned_at) FROM outcomes
		WHERE account_id = $1 AND (NOT $2 OR NOT simulated)`, q.AccountID, q.RealOnly).Scan(&p.Outcomes, &p.Learned)
	if err != nil {
		return fmt.Errorf("outcomes: %w", err)
	}
	err = db.QueryRow(ctx, `SELECT version, created_at, explore_ratio FROM learning_runs
		WHERE account_id = $1 ORDER BY version DESC LIMIT 1`, q.AccountID).Scan(&p.LearningVersion, &p.LastLearnedAt, &p.ExploreRatio)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("learning runs: %w", err)
	}
	return nil
}

func pageNewest(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	rows, err := db.Query(ctx, `SELECT d.decision_id::text, d.decision_type, d.status, d.generation_source,
			COALESCE(d.topic, ''), COALESCE(d.format, ''), COALESCE(d.hook, ''), d.hour_bucket, d.content,
			COALESCE(d.skip_reason, ''), d.scheduled_at, d.posted_at, o.engagement_rate, o.impressions
		FROM content_metadata d LEFT JOIN outcomes o ON o.decision_id = d.decision_id
		WHERE d.account_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, q.AccountID, max(q.Newest, 1))
	if err != nil {
		return fmt.Errorf("newest decisions: %w", err)
	}
	p.Newest, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PageDecision, error) {
		var d PageDecision
		return d, r.Scan(&d.DecisionID, &d.DecisionType, &d.Status, &d.Source, &d.Topic, &d.Format, &d.Hook, &d.HourBucket,
			&d.Content, &d.SkipReason, &d.ScheduledAt, &d.PostedAt, &d.ER, &d.Impressions)
	})
	if err != nil {
		return fmt.Errorf("newest decisions: %w", err)
	}
	return nil
}

func pageLateness(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	var p50, p99, mx *float64
	err := db.QueryRow(ctx, `
		SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY late), percentile_cont(0.99) WITHIN GROUP (ORDER BY late), max(late)
		FROM (SELECT extract(epoch FROM posted_at - scheduled_at)::float8 AS late FROM content_metadata
			WHERE account_id = $1 AND status = 'posted' AND posted_at >= $2) l`, q.AccountID, q.Since).
		Scan(&p.Lateness.Posts, &p50, &p99, &mx)
	if err != nil {
		return fmt.Errorf("posting lateness: %w", err)
	}
	sec := func(f *float64) time.Duration {
		if f == nil {
			return 0
		}
		return time.Duration(*f * float64(time.Second))
	}
	p.Lateness.P50, p.Lateness.P99, p.Lateness.Max = sec(p50), sec(p99), sec(mx)
	return nil
}

func pageArms(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	var err error
	p.Arms, err = armRows(ctx, db, q.AccountID)
	return err
}

// measuredPosts are the account's original posts with a reading that has impressions, in posting order.
const measuredPosts = `
	SELECT d.id, d.posted_at, COALESCE(d.topic, '') AS topic, COALESCE(d.format, '') AS format,
		COALESCE(d.hook, '') AS hook, COALESCE(d.hour_bucket::text, '') AS hour, o.impressions AS n,
		o.likes + o.retweets + o.replies + o.quotes + o.bookmarks AS e
	FROM outcomes o JOIN content_metadata d ON d.decision_id = o.decision_id
	WHERE d.account_id = $1 AND d.decision_type = 'single' AND d.posted_at IS NOT NULL AND o.impressions > 0
		AND (NOT $2 OR NOT o.simulated)`

func pageEngagement(ctx context.Context, db DBTX, q StatusPageQuery, p *StatusPage) error {
	rows, err := db.Query(ctx, `
		WITH p AS (`+measuredPosts+`),
		c AS (SELECT posted_at, sum(n) OVER w AS cn, sum(e) OVER w AS ce, row_number() OVER w AS i, count(*) OVER () AS total
			FROM p WINDOW w AS (ORDER BY posted_at, id ROWS UNBOUNDED PRECEDING))
		SELECT i, posted_at, cn, ce FROM c
		WHERE i = 1 OR i = total OR i % GREATEST(1, ceil(total::float8 / $3)::bigint) = 0 ORDER BY i`,
		q.AccountID, q.RealOnly, max(q.MaxPoints, 2))
	if err != nil {
		return fmt.Errorf("engagement series: %w", err)
	}
	p.Series, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EngagementPoint, error) {
		var e EngagementPoint
		return e, r.Scan(&e.N, &e.PostedAt, &e.Impressions, &e.Engagements)
	})
	if err != nil {
		return fmt.Errorf("engagement series: %w", err)
	}
	rows, err = db.Query(ctx, `
		WITH p AS (`+measuredPosts+`)
		SELECT topic, format, hook, hour, count(*), sum(n)::bigint, sum(e)::bigint FROM p GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		q.AccountID, q.RealOnly)
	if err != nil {
		return fmt.Errorf("engagement per arms: %w", err)
	}
	p.Cells, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EngagementCell, error) {
		var c EngagementCell
		return c, r.Scan(&c.Topic, &c.Format, &c.Hook, &c.Hour, &c.Posts, &c.Impressions, &c.Engagements)
	})
	if err != nil {
		return fmt.Errorf("engagement per arms: %w", err)
	}
	return nil
}
