package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/xbot/xbot/internal/bandit"
)

// Learning modes: what a run reads (DESIGN.md section 2, MODE).
const (
	LearnLive   = "live"   // only real outcomes (simulated = false)
	LearnShadow = "shadow" // every outcome
)

const (
	// learnBatchMax bounds how many unlearned outcomes one run marks; the rest wait for the next run.
	learnBatchMax = 5000
	// explorePicks is how many recent decisions the explore ratio is measured on.
	explorePicks = 50
	// modelWindowPosts bounds the learned outcomes a model keeps one by one (learn_window, newest first) for
	// the change test, and modelWindowHalfLives their age (older ones weigh under 2^-8); every other learned
	// outcome counts through learn_stats only.
	modelWindowPosts     = 1000
	modelWindowHalfLives = 8
	// changeZ and changeMinPosts are the per-arm change test's threshold (standard errors of the residual
	// shift) and the posts it needs on each side of a change.
	changeZ        = 3.0
	changeMinPosts = 8
)

// LearnParams are a learn run's settings.
type LearnParams struct {
	Mode        string        // LearnLive or LearnShadow
	MinOutcomes int           // LEARN_MIN_OUTCOMES: fewer unlearned outcomes skip the run
	HalfLife    time.Duration // LEARN_HALF_LIFE: an outcome's weight is 2^(-age/HalfLife), age from posted_at
	// PostArms are the configured arms of the post model (topics, formats, hooks, hours), summarised
	// even before they have evidence.
	PostArms []bandit.Feature
	Now      time.Time
	// Window is how many learned outcomes of each model are kept one by one for the change test
	// (0: 1,000); the rest count through their statistics.
	Window int
}

// LearnResult is what one learn run did.
type LearnResult struct {
	Version      int     // learning_runs.version written (0 when skipped)
	ArmsTrained  int     // arms with evidence
	ExploreRatio float64 // share of the last picks that were not their scope's best arm
	OutcomesUsed int     // unlearned outcomes this run marked learned
	Available    int     // unlearned outcomes of the mode's kind found (what the skip compared)
	Skipped      bool    // fewer than MinOutcomes: nothing written
	// Rebuilt is how many learned outcomes the run read to rebuild the account's learning state (its
	// first run, or the first at another half-life); 0: it read only the outcomes it learned.
	Rebuilt int
}

// LearnRun is one learn job's run in tx:
//
//  1. take a transaction-scoped advisory lock keyed by schema and account, so runs of one account are
//     serialised (and tests in their own schemas never block each other);
//  2. find the unlearned outcomes with status ok or no_impressions (live mode: real ones only), at most
//     learnBatchMax, locking them; fewer than MinOutcomes: Skipped, nothing written;
//  3. add the ones with a first reading to the account's learning state: per model, the newest learned
//     outcomes one by one (learn_window, at most Window, none older than 8 half-lives) and the age-weighted
//     sufficient statistics of all the others (learn_stats, per kind: simulated or real), rolled to p.Now.
//     Without a state at p.HalfLife it is rebuilt from every learned outcome of the account (one read of
//     its history, once);
//  4. fit the post model and the reply model (bandit.FitStats) on the statistics and the window, every
//     outcome weighted by its age at p.Now, so the result depends on the learned outcomes and the time
//     only — never on how many runs came before, nor on how many replies triggered them;
//  5. write one bandit_arms row per arm (lift, uncertainty, evidence, since), the joint posteriors to
//     learning_runs (version max+1) and the state, and mark the found outcomes learned.
//
// A run's reads are the unlearned outcomes, the account's learn_stats rows and its window: its cost does
// not grow with the history. An outcome counts as it was when learned (a later status, e.g. the post
// deleted, does not take it out until a rebuild).
//
// explore_ratio is measured on the account's last 50 decisions (any type and status, by created_at): the
// share of their picks that are not their scope's arm with the highest lift among arms with evidence.
func (s *Store) LearnRun(ctx context.Context, tx pgx.Tx, accountID int64, p LearnParams) (*LearnResult, error) {
	if p.Mode != LearnLive && p.Mode != LearnShadow {
		return nil, fmt.Errorf("learn run: mode %q is not live or shadow", p.Mode)
	}
	if p.HalfLife <= 0 {
		return nil, fmt.Errorf("learn run: half-life %v must be positive", p.HalfLife)
	}
	p.Window = cmp.Or(p.Window, modelWindowPosts)
	minOutcomes := max(p.MinOutcomes, 1)
	allKinds := p.Mode == LearnShadow

	// Round trips are most of a run's cost: the lock and the outcomes to learn go in one, every other read
	// in a second and every write in a third.
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::bigint::text, 0))`, accountID)
	var ids []int64
	b.Queue(`
		SELECT o.id FROM outcomes o
		WHERE o.account_id = $1 AND o.learned_at IS NULL AND o.status IN ('ok', 'no_impressions')
		  AND ($2 OR NOT o.simulated)
		ORDER BY o.collected_at, o.id
		LIMIT $3
		FOR UPDATE`, accountID, allKinds, learnBatchMax).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("learn run: lock account %d and read its unlearned outcomes: %w", accountID, err)
	}
	res := &LearnResult{Available: len(ids)}
	if len(ids) < minOutcomes {
		res.Skipped = true
		return res, nil
	}

	b = &pgx.Batch{}
	state := newModelState()
	state.queueLoad(b, accountID, ids, p)
	picks := queueRecentPicks(b, accountID)
	b.Queue(`SELECT COALESCE(max(version), 0) + 1 FROM learning_runs WHERE account_id = $1`, accountID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&res.Version)
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("learn run: read the learning state of account %d: %w", accountID, err)
	}
	if err := state.settle(ctx, tx, accountID, ids, p); err != nil {
		return nil, err
	}
	res.Rebuilt = state.rebuilt
	posteriors := map[string]*bandit.Posterior{}
	var arms []bandit.ArmSummary
	for _, model := range []string{ModelPost, ModelReply} {
		base, obs, err := state.model(model, allKinds, p)
		if err != nil {
			return nil, fmt.Errorf("learn run: %s model: %w", model, err)
		}
		var configured []bandit.Feature
		if model == ModelPost {
			configured = p.PostArms
		}
		post, sums, err := bandit.FitStats(base, obs, bandit.FitOptions{Now: p.Now, HalfLife: p.HalfLife, Arms: configured,
			ChangeZ: changeZ, ChangeMinPosts: changeMinPosts})
		if err != nil {
			return nil, fmt.Errorf("learn run: fit %s model: %w", model, err)
		}
		posteriors[model] = post
		arms = append(arms, sums...)
	}
	for _, a := range arms {
		if a.Evidence > 0 {
			res.ArmsTrained++
		}
	}
	res.OutcomesUsed = len(ids)
	res.ExploreRatio = exploreRatio(picks, arms)
	blob, err := json.Marshal(posteriors)
	if err != nil {
		return nil, fmt.Errorf("learn run: encode posterior: %w", err)
	}
	// The version read under the account's lock is the next one (UNIQUE (account_id, version) backs it).
	b = &pgx.Batch{}
	b.Queue(`
		INSERT INTO learning_runs (account_id, version, arms_trained, explore_ratio, outcomes_used, created_at, posterior, half_life_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		accountID, res.Version, res.ArmsTrained, res.ExploreRatio, res.OutcomesUsed, p.Now, blob, p.HalfLife.Seconds())
	queueSaveArms(b, accountID, arms, res.Version, p.Now)
	state.queueSave(b, accountID, p.Now)
	var marked int64
	b.Queue(`UPDATE outcomes SET learned_at = $2 WHERE id = ANY($1) AND learned_at IS NULL`, ids, p.Now).Exec(func(tag pgconn.CommandTag) error {
		marked = tag.RowsAffected()
		return nil
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("learn run: write learning run %d of account %d: %w", res.Version, accountID, err)
	}
	if marked != int64(len(ids)) {
		// Cannot happen under the lock and row locks; refuse rather than report an outcome twice.
		return nil, fmt.Errorf("learn run: marked %d of %d outcomes learned", marked, len(ids))
	}
	return res, nil
}

func cmpString(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// queueRecentPicks queues the read of the account's last explorePicks decisions' picks, by scope.
func queueRecentPicks(b *pgx.Batch, accountID int64) map[string][]string {
	picks := map[string][]string{}
	b.Queue(`
		SELECT decision_type = 'reply', COALESCE(topic, ''), COALESCE(format, ''), COALESCE(hook, ''), hour_bucket
		FROM content_metadata WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, accountID, explorePicks).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var reply bool
			var topic, format, hook string
			var hour *int16
			if err := rows.Scan(&reply, &topic, &format, &hook, &hour); err != nil {
				return fmt.Errorf("recent picks of account %d: %w", accountID, err)
			}
			if reply {
				picks[bandit.ScopeReply] = append(picks[bandit.ScopeReply], cmpString(topic, bandit.ReplyDefaultArm))
				continue
			}
			for scope, arm := range map[string]string{bandit.ScopeTopic: topic, bandit.ScopeFormat: format, bandit.ScopeHook: hook} {
				if arm != "" {
					picks[scope] = append(picks[scope], arm)
				}
			}
			if hour != nil {
				picks[bandit.ScopeHour] = append(picks[bandit.ScopeHour], strconv.Itoa(int(*hour)))
			}
		}
		return rows.Err()
	})
	return picks
}

// exploreRatio is the share of picks that are not their scope's arm with the highest lift among arms
// with evidence.
func exploreRatio(picks map[string][]string, arms []bandit.ArmSummary) float64 {
	best := map[string][]string{}
	top := map[string]float64{}
	for _, a := range arms {
		if a.Evidence <= 0 {
			continue // an arm never tried is not "the best" because its prior happens to sit higher
		}
		switch l, ok := top[a.Scope]; {
		case !ok || a.Lift > l:
			top[a.Scope], best[a.Scope] = a.Lift, []string{a.Arm}
		case a.Lift == l:
			best[a.Scope] = append(best[a.Scope], a.Arm)
		}
	}
	var explored, total float64
	for scope, ps := range picks {
		explored += bandit.ExploreRatio(ps, best[scope]) * float64(len(ps))
		total += float64(len(ps))
	}
	if total == 0 {
		return 0
	}
	return math.Min(1, math.Max(0, explored/total))
}
