package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outcome statuses (outcomes.status).
const (
	OutcomeOK            = "ok"
	OutcomeNotFound      = "not_found"
	OutcomeNotAuthorized = "not_authorized"
	OutcomeNoImpressions = "no_impressions"
)

// Posted is one posted_decisions row.
type Posted struct {
	DecisionID       string
	AccountID        int64
	DecisionType     string
	GenerationSource string
	Backend          string
	TweetID          string
	Content          string
	PostedAt         time.Time
	// Gone: a reading already stored the post as not found or not authorized (it is not read again).
	Gone bool
}

// GetPosted reads a decision's posted_decisions row, and whether a reading found the post gone.
func (s *Store) GetPosted(ctx context.Context, db DBTX, decisionID string) (*Posted, error) {
	p := &Posted{}
	err := db.QueryRow(ctx, `SELECT p.decision_id::text, p.account_id, p.decision_type, p.generation_source, p.backend,
			p.tweet_id, p.content, p.posted_at, COALESCE(o.status IN ('not_found', 'not_authorized'), false)
		FROM posted_decisions p LEFT JOIN outcomes o ON o.decision_id = p.decision_id
		WHERE p.decision_id = $1`, decisionID).
		Scan(&p.DecisionID, &p.AccountID, &p.DecisionType, &p.GenerationSource, &p.Backend, &p.TweetID, &p.Content, &p.PostedAt, &p.Gone)
	if err != nil {
		return nil, notFound(err, "posted decision "+decisionID)
	}
	return p, nil
}

// Reading is one metrics reading of a post.
type Reading struct {
	DecisionID  string
	AccountID   int64
	TweetID     string
	Simulated   bool
	Status      string
	Impressions int64
	Likes       int64
	Retweets    int64
	Replies     int64
	Quotes      int64
	Bookmarks   int64
	Number      int // 1 = the first reading (what learning rewards), 2.. = follow-ups
	CollectedAt time.Time
}

// EngagementRate is (likes+retweets+replies+quotes+bookmarks)/impressions; ok is false with no impressions.
func (r Reading) EngagementRate() (er float64, ok bool) {
	if r.Impressions <= 0 {
		return 0, false
	}
	return float64(r.Likes+r.Retweets+r.Replies+r.Quotes+r.Bookmarks) / float64(r.Impressions), true
}

// StoreReading inserts or updates the decision's outcome row. Re-storing the same reading number is
// harmless: readings never goes down, and the first reading's rate and counts (what learning reads) are
// set only by reading 1 and never overwritten by a follow-up.
func (s *Store) StoreReading(ctx context.Context, db DBTX, r Reading) error {
	var er *float64
	if v, ok := r.EngagementRate(); ok {
		er = &v
	}
	var first *float64
	var firstImp, firstEng *int64
	if r.Number == 1 {
		first = er
		imp, eng := r.Impressions, r.Likes+r.Retweets+r.Replies+r.Quotes+r.Bookmarks
		firstImp, firstEng = &imp, &eng
	}
	_, err := db.Exec(ctx, `
		INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, impressions, likes, retweets, replies, quotes,
			bookmarks, engagement_rate, first_engagement_rate, status, collected_at, readings, first_impressions, first_engagements)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (decision_id) DO UPDATE SET
			simulated = EXCLUDED.simulated, impressions = EXCLUDED.impressions, likes = EXCLUDED.likes,
			retweets = EXCLUDED.retweets, replies = EXCLUDED.replies, quotes = EXCLUDED.quotes,
			bookmarks = EXCLUDED.bookmarks, engagement_rate = EXCLUDED.engagement_rate,
			first_engagement_rate = COALESCE(outcomes.first_engagement_rate, EXCLUDED.first_engagement_rate),
			first_impressions = COALESCE(outcomes.first_impressions, EXCLUDED.first_impressions),
			first_engagements = COALESCE(outcomes.first_engagements, EXCLUDED.first_engagements),
			status = EXCLUDED.status, collected_at = EXCLUDED.collected_at,
			readings = GREATEST(outcomes.readings, EXCLUDED.readings)`,
		r.DecisionID, r.AccountID, r.TweetID, r.Simulated, r.Impressions, r.Likes, r.Retweets, r.Replies, r.Quotes,
		r.Bookmarks, er, first, r.Status, r.CollectedAt, r.Number, firstImp, firstEng)
	if err != nil {
		return fmt.Errorf("store reading %d of decision %s: %w", r.Number, r.DecisionID, err)
	}
	return nil
}

// DueReading is a reading the analytics sweep should make sure is collected.
type DueReading struct {
	DecisionID string
	Reading    int
	PostedAt   time.Time
}

// DueReadings finds posted decisions past a reading time (delays[i] after posting is reading i+1), by at
// most lookback, whose outcome has fewer readings. Posts on X are skipped when xMetrics is false (no metrics
// are read for them). Each reading reads its own index range of posts and looks each one's outcome up by
// key (the OFFSET 0s keep the planner from flattening that into a scan of either table).
func (s *Store) DueReadings(ctx context.Context, db DBTX, now time.Time, lookback time.Duration, delays []time.Duration, xMetrics bool, limit int) ([]DueReading, error) {
	secs := make([]float64, len(delays))
	for i, d := range delays {
		secs[i] = d.Seconds()
	}
	rows, err := db.Query(ctx, `
		SELECT p.decision_id::text, r.n::int, p.posted_at
		FROM unnest($2::float8[]) WITH ORDINALITY AS r(delay, n)
		JOIN LATERAL (SELECT p.decision_id, p.posted_at FROM posted_decisions p
			WHERE p.posted_at <= $1::timestamptz - make_interval(secs => r.delay)
			  AND p.posted_at >= $1::timestamptz - make_interval(secs => r.delay + $5::float8)
			  AND ($3 OR p.backend <> 'x')
			OFFSET 0) p ON true
		LEFT JOIN LATERAL (SELECT o.readings, o.status FROM outcomes o WHERE o.decision_id = p.decision_id OFFSET 0) o ON true
		WHERE COALESCE(o.readings, 0) < r.n AND COALESCE(o.status, 'ok') IN ('ok', 'no_impressions')
		ORDER BY p.posted_at, r.n
		LIMIT $4`, now, secs, xMetrics, limit, lookback.Seconds())
	if err != nil {
		return nil, fmt.Errorf("due readings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueReading, error) {
		var d DueReading
		return d, r.Scan(&d.DecisionID, &d.Reading, &d.PostedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("due readings: %w", err)
	}
	return out, nil
}
