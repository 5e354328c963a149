package store

import (
	"context"
	"fmt"
	"time"

	"github.com/xbot/xbot/internal/gate"
)

// GateHistory is the gate chain's view of an account's recent output (gate.History), read on DB: pass
// the worker's transaction so the chain sees what the same transaction already wrote.
type GateHistory struct{ DB DBTX }

var _ gate.History = GateHistory{}

// GateHistory returns the gate chain's history reader over db.
func (s *Store) GateHistory(db DBTX) GateHistory { return GateHistory{DB: db} }

// RecentTexts returns the texts of the account's decisions created since since that are or will be public
// (queued, posting, posted) or wait for a person (pending_approval). Windowed on created_at, which the
// (account_id, created_at) index serves.
func (h GateHistory) RecentTexts(ctx context.Context, accountID int64, since time.Time) ([]string, error) {
	rows, err := h.DB.Query(ctx, `SELECT content FROM content_metadata
		WHERE account_id = $1 AND created_at >= $2
		  AND status IN ('queued', 'posting', 'posted', 'pending_approval')
		ORDER BY created_at DESC`, accountID, since)
	if err != nil {
		return nil, fmt.Errorf("recent texts of account %d: %w", accountID, err)
	}
	texts := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan recent text: %w", err)
		}
		texts = append(texts, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent texts of account %d: %w", accountID, err)
	}
	return texts, nil
}

// TopicCounts counts the account's posts (replies excluded) created since since in the statuses queued,
// posting and posted, per topic, with the total. A post without a topic counts in the total only.
func (h GateHistory) TopicCounts(ctx context.Context, accountID int64, since time.Time) (map[string]int, int, error) {
	rows, err := h.DB.Query(ctx, `SELECT COALESCE(topic, ''), count(*) FROM content_metadata
		WHERE account_id = $1 AND created_at >= $2
		  AND status IN ('queued', 'posting', 'posted') AND decision_type <> 'reply'
		GROUP BY 1`, accountID, since)
	if err != nil {
		return nil, 0, fmt.Errorf("topic counts of account %d: %w", accountID, err)
	}
	defer rows.Close()
	counts := map[string]int{}
	total := 0
	for rows.Next() {
		var topic string
		var n int
		if err := rows.Scan(&topic, &n); err != nil {
			return nil, 0, fmt.Errorf("scan topic count: %w", err)
		}
		total += n
		if topic != "" {
			counts[topic] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("topic counts of account %d: %w", accountID, err)
	}
	return counts, total, nil
}
