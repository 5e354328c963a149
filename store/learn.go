package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/bandit"
)

// Learning modes: what a run reads (DESIGN.md section 2, MODE).
const (
	LearnLive   = "live"   // only real outcomes (simulated = false)
	LearnShadow = "shadow" // every outcome
)

const (
	// learnBatchMax bounds one run's work; outcomes beyond it wait for the next period's run.
	learnBatchMax = 5000
	// explorePicks is how many recent decisions the explore ratio is measured on.
	explorePicks = 50
	// medianWindow is the trailing window of the reward's median engagement rate.
	medianWindow = 30 * 24 * time.Hour
)

// LearnResult is what one learn run did.
type LearnResult struct {
	Version      int     // learning_runs.version written (0 when skipped)
	ArmsTrained  int     // arms that received evidence
	ExploreRatio float64 // share of the last picks that were not their scope's best arm
	OutcomesUsed int     // outcomes folded in and marked learned
	Available    int     // unlearned outcomes of the mode's kind found (what the skip compared)
	Skipped      bool    // fewer than minOutcomes: nothing written
}

type learnOutcome struct {
	id           int64
	reply        bool
	er           float64
	hasER        bool
	topic        string
	format, hook string
	hour         *int16
}

// LearnRun is one learn job's run (DESIGN.md section 7) in tx:
//
//  1. take a transaction-scoped advisory lock keyed by schema and account, so runs of one account are
//     serialised (and tests in their own schemas never block each other);
//  2. read the unlearned outcomes with status ok or no_impressions (live mode: real ones only), oldest
//     first, at most learnBatchMax, locking them; fewer than minOutcomes: Skipped, nothing written;
//  3. reward each 1 when its first-reading ER beats the trailing 30-day median ER of the account's posts
//     of the same kind (replies against replies, posts against posts; posts chosen by posted_at, so the
//     median rides the (account_id, posted_at) index); no impressions is 0;
//  4. discount every arm of the account by discount, add the evidence — posts train topic, format, hook
//     and hour (hour_bucket); replies train the reply scope under their topic, or bandit.ReplyDefaultArm
//     when they have none — and save the arms;
//  5. mark the outcomes learned (learned_at = now) and insert learning_runs with version max+1.
//
// explore_ratio is measured after the update on the account's last 50 decisions (any type and status,
// by created_at): each contributes one pick per dimension it has; the ratio is the share of those picks
// that are not their scope's best arm by posterior mean (ties count as best).
//
// Its cost depends on the batch, the account's arms and its last 30 days of posts, never on the total
// number of outcomes.
func (s *Store) LearnRun(ctx context.Context, tx pgx.Tx, accountID int64, mode string, minOutcomes int, discount float64, now time.Time) (*LearnResult, error) {
	if mode != LearnLive && mode != LearnShadow {
		return nil, fmt.Errorf("learn run: mode %q is not live or shadow", mode)
	}
	if !(discount >= 0 && discount <= 1) {
		return nil, fmt.Errorf("learn run: discount %v outside [0, 1]", discount)
	}
	minOutcomes = max(minOutcomes, 1)
	allKinds := mode == LearnShadow

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::bigint::text, 0))`,
		accountID); err != nil {
		return nil, fmt.Errorf("learn run: lock account %d: %w", accountID, err)
	}

	batch, err := unlearnedOutcomes(ctx, tx, accountID, allKinds)
	if err != nil {
		return nil, err
	}
	res := &LearnResult{Available: len(batch)}
	if len(batch) < minOutcomes {
		res.Skipped = true
		return res, nil
	}

	medians, err := medianER(ctx, tx, accountID, allKinds, now)
	if err != nil {
		return nil, err
	}
	evidence := map[string]map[string]bandit.Evidence{}
	add := func(scope, arm string, win bool) {
		if arm == "" {
			return
		}
		if evidence[scope] == nil {
			evidence[scope] = map[string]bandit.Evidence{}
		}
		e := evidence[scope][arm]
		if win {
			e.Successes++
		} else {
			e.Failures++
		}
		evidence[scope][arm] = e
	}
	ids := make([]int64, len(batch))
	for i, o := range batch {
		ids[i] = o.id
		win := bandit.Reward(o.er, o.hasER, medians[o.reply])
		if o.reply {
			add(bandit.ScopeReply, cmpString(o.topic, bandit.ReplyDefaultArm), win)
			continue
		}
		add(bandit.ScopeTopic, o.topic, win)
		add(bandit.ScopeFormat, o.format, win)
		add(bandit.ScopeHook, o.hook, win)
		if o.hour != nil {
			add(bandit.ScopeHour, strconv.Itoa(int(*o.hour)), win)
		}
	}

	arms, err := allArms(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	var scopes []string
	var flat []bandit.Arm
	for _, scope := range bandit.Scopes() {
		updated, err := bandit.Update(arms[scope], evidence[scope], discount)
		if err != nil {
			return nil, fmt.Errorf("learn run: update %s arms: %w", scope, err)
		}
		arms[scope] = updated
		res.ArmsTrained += len(evidence[scope])
		for _, a := range updated {
			scopes = append(scopes, scope)
			flat = append(flat, a)
		}
	}
	if len(flat) > 0 {
		if err := saveArms(ctx, tx, accountID, scopes, flat, now); err != nil {
			return nil, fmt.Errorf("learn run: %w", err)
		}
	}

	tag, err := tx.Exec(ctx, `UPDATE outcomes SET learned_at = $2 WHERE id = ANY($1) AND learned_at IS NULL`, ids, now)
	if err != nil {
		return nil, fmt.Errorf("learn run: mark outcomes learned: %w", err)
	}
	if tag.RowsAffected() != int64(len(ids)) {
		// Cannot happen under the lock and row locks; refuse rather than count an outcome twice.
		return nil, fmt.Errorf("learn run: marked %d of %d outcomes learned", tag.RowsAffected(), len(ids))
	}
	res.OutcomesUsed = len(ids)

	res.ExploreRatio, err = exploreRatio(ctx, tx, accountID, arms)
	if err != nil {
		return nil, err
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO learning_runs (account_id, version, arms_trained, explore_ratio, outcomes_used, created_at)
		SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5 FROM learning_runs WHERE account_id = $1
		RETURNING version`, accountID, res.ArmsTrained, res.ExploreRatio, res.OutcomesUsed, now).Scan(&res.Version)
	if err != nil {
		return nil, fmt.Errorf("learn run: insert learning run: %w", err)
	}
	return res, nil
}

func cmpString(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func unlearnedOutcomes(ctx context.Context, tx pgx.Tx, accountID int64, allKinds bool) ([]learnOutcome, error) {
	rows, err := tx.Query(ctx, `
		SELECT o.id, cm.decision_type = 'reply', o.first_engagement_rate,
		       COALESCE(cm.topic, ''), COALESCE(cm.format, ''), COALESCE(cm.hook, ''), cm.hour_bucket
		FROM outcomes o JOIN content_metadata cm ON cm.decision_id = o.decision_id
		WHERE o.account_id = $1 AND o.learned_at IS NULL AND o.status IN ('ok', 'no_impressions')
		  AND ($2 OR NOT o.simulated)
		ORDER BY o.collected_at, o.id
		LIMIT $3
		FOR UPDATE OF o`, accountID, allKinds, learnBatchMax)
	if err != nil {
		return nil, fmt.Errorf("learn run: read unlearned outcomes of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []learnOutcome
	for rows.Next() {
		var o learnOutcome
		var er *float64
		if err := rows.Scan(&o.id, &o.reply, &er, &o.topic, &o.format, &o.hook, &o.hour); err != nil {
			return nil, fmt.Errorf("learn run: scan outcome: %w", err)
		}
		if er != nil && !math.IsNaN(*er) {
			o.er, o.hasER = *er, true
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("learn run: read unlearned outcomes of account %d: %w", accountID, err)
	}
	return out, nil
}

// medianER returns the trailing 30-day median first-reading ER, keyed by "is a reply". A kind with no
// rate in the window has median 0, so any engagement beats it.
func medianER(ctx context.Context, tx pgx.Tx, accountID int64, allKinds bool, now time.Time) (map[bool]float64, error) {
	rows, err := tx.Query(ctx, `
		SELECT pd.decision_type = 'reply', percentile_cont(0.5) WITHIN GROUP (ORDER BY o.first_engagement_rate)
		FROM posted_decisions pd JOIN outcomes o ON o.decision_id = pd.decision_id
		WHERE pd.account_id = $1 AND pd.posted_at > $2 AND pd.posted_at <= $3
		  AND o.first_engagement_rate IS NOT NULL AND ($4 OR NOT o.simulated)
		GROUP BY 1`, accountID, now.Add(-medianWindow), now, allKinds)
	if err != nil {
		return nil, fmt.Errorf("learn run: median engagement rate of account %d: %w", accountID, err)
	}
	defer rows.Close()
	out := map[bool]float64{}
	for rows.Next() {
		var reply bool
		var m float64
		if err := rows.Scan(&reply, &m); err != nil {
			return nil, fmt.Errorf("learn run: scan median: %w", err)
		}
		out[reply] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("learn run: median engagement rate of account %d: %w", accountID, err)
	}
	return out, nil
}

func allArms(ctx context.Context, tx pgx.Tx, accountID int64) (map[string][]bandit.Arm, error) {
	rows, err := tx.Query(ctx, `SELECT scope, arm_name, alpha, beta, pulls FROM bandit_arms
		WHERE account_id = $1 ORDER BY scope, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("learn run: load arms of account %d: %w", accountID, err)
	}
	defer rows.Close()
	out := map[string][]bandit.Arm{}
	for rows.Next() {
		var scope string
		var a bandit.Arm
		if err := rows.Scan(&scope, &a.Name, &a.Alpha, &a.Beta, &a.Pulls); err != nil {
			return nil, fmt.Errorf("learn run: scan arm: %w", err)
		}
		out[scope] = append(out[scope], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("learn run: load arms of account %d: %w", accountID, err)
	}
	return out, nil
}

func exploreRatio(ctx context.Context, tx pgx.Tx, accountID int64, arms map[string][]bandit.Arm) (float64, error) {
	rows, err := tx.Query(ctx, `
		SELECT decision_type = 'reply', COALESCE(topic, ''), COALESCE(format, ''), COALESCE(hook, ''), hour_bucket
		FROM content_metadata WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, accountID, explorePicks)
	if err != nil {
		return 0, fmt.Errorf("learn run: recent picks of account %d: %w", accountID, err)
	}
	defer rows.Close()
	picks := map[string][]string{}
	for rows.Next() {
		var reply bool
		var topic, format, hook string
		var hour *int16
		if err := rows.Scan(&reply, &topic, &format, &hook, &hour); err != nil {
			return 0, fmt.Errorf("learn run: scan pick: %w", err)
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
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("learn run: recent picks of account %d: %w", accountID, err)
	}
	var explored, total float64
	for scope, ps := range picks {
		explored += bandit.ExploreRatio(ps, arms[scope]) * float64(len(ps))
		total += float64(len(ps))
	}
	if total == 0 {
		return 0, nil
	}
	return math.Min(1, math.Max(0, explored/total)), nil
}
