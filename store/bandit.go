package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/bandit"
)

// ArmRow is one bandit_arms row: what the last learn run concluded about one arm (migration 007 says
// what each column means).
type ArmRow struct {
	Scope          string
	Name           string
	Alpha, Beta    float64
	Pulls          int64
	Lift           float64
	Uncertainty    *float64
	LiftLow        *float64
	LiftHigh       *float64
	Evidence       float64
	Since          *time.Time
	LearnedVersion *int
	UpdatedAt      time.Time
}

// Arms returns the account's bandit_arms rows, by scope and name.
func (s *Store) Arms(ctx context.Context, db DBTX, accountID int64) ([]ArmRow, error) {
	return armRows(ctx, db, accountID)
}

func armRows(ctx context.Context, db DBTX, accountID int64) ([]ArmRow, error) {
	rows, err := db.Query(ctx, `SELECT scope, arm_name, alpha, beta, pulls, lift, uncertainty, lift_low, lift_high, evidence,
			since, learned_version, updated_at
		FROM bandit_arms WHERE account_id = $1 ORDER BY scope, arm_name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("arms of account %d: %w", accountID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ArmRow, error) {
		var a ArmRow
		return a, r.Scan(&a.Scope, &a.Name, &a.Alpha, &a.Beta, &a.Pulls, &a.Lift, &a.Uncertainty, &a.LiftLow, &a.LiftHigh,
			&a.Evidence, &a.Since, &a.LearnedVersion, &a.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("arms of account %d: %w", accountID, err)
	}
	return out, nil
}

// Models of learning_runs.posterior.
const (
	ModelPost  = "post"
	ModelReply = "reply"
)

// LatestPosterior returns the joint posterior of model ("post" or "reply") from the account's newest
// learning run, and that run's version; nil and 0 before the first run (the plan then samples the prior).
func (s *Store) LatestPosterior(ctx context.Context, db DBTX, accountID int64, model string) (*bandit.Posterior, int, error) {
	var raw []byte
	var version int
	err := db.QueryRow(ctx, `SELECT posterior -> $2::text, version FROM learning_runs
		WHERE account_id = $1 ORDER BY version DESC LIMIT 1`, accountID, model).Scan(&raw, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("latest %s posterior of account %d: %w", model, accountID, err)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, version, nil
	}
	p := &bandit.Posterior{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, 0, fmt.Errorf("latest %s posterior of account %d: decode: %w", model, accountID, err)
	}
	return p, version, nil
}

// queueSaveArms queues the upsert of one row per summarised arm. Pulls are RecordPulls' and are not
// overwritten.
func queueSaveArms(b *pgx.Batch, accountID int64, arms []bandit.ArmSummary, version int, now time.Time) {
	if len(arms) == 0 {
		return
	}
	n := len(arms)
	scopes, names := make([]string, n), make([]string, n)
	alphas, betas, lifts, sds, lows, highs, evidence := make([]float64, n), make([]float64, n), make([]float64, n),
		make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	since := make([]*time.Time, n)
	for i, a := range arms {
		scopes[i], names[i] = a.Scope, a.Arm
		alphas[i] = 1 + a.Evidence*a.ProbAbove
		betas[i] = 1 + a.Evidence*(1-a.ProbAbove)
		lifts[i], sds[i], lows[i], highs[i], evidence[i], since[i] = a.Lift, a.Uncertainty, a.LiftLow, a.LiftHigh, a.Evidence, a.Since
	}
	b.Queue(`
		INSERT INTO bandit_arms (account_id, scope, arm_name, alpha, beta, lift, uncertainty, lift_low, lift_high, evidence,
			since, learned_version, updated_at)
		SELECT $1, sc, name, a, b, l, u, lo, hi, e, si, $12, $13
		FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
			$9::float8[], $10::float8[], $11::timestamptz[]) AS t(sc, name, a, b, l, u, lo, hi, e, si)
		ON CONFLICT (account_id, scope, arm_name) DO UPDATE SET
			alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, lift = EXCLUDED.lift, uncertainty = EXCLUDED.uncertainty,
			lift_low = EXCLUDED.lift_low, lift_high = EXCLUDED.lift_high, evidence = EXCLUDED.evidence,
			since = EXCLUDED.since, learned_version = EXCLUDED.learned_version, updated_at = EXCLUDED.updated_at`,
		accountID, scopes, names, alphas, betas, lifts, sds, lows, highs, evidence, since, version, now)
}

// RecordPulls counts picks of several arms (scopes[i], arms[i]) in one statement (bandit_arms.pulls),
// creating missing arms at lift 1.
func (s *Store) RecordPulls(ctx context.Context, db DBTX, accountID int64, scopes, arms []string) error {
	if len(scopes) != len(arms) {
		return fmt.Errorf("record pulls for account %d: %d scopes but %d arms", accountID, len(scopes), len(arms))
	}
	_, err := db.Exec(ctx, `
		INSERT INTO bandit_arms (account_id, scope, arm_name, pulls, updated_at)
		SELECT $1::bigint, scope, arm_name, count(*), $4::timestamptz FROM unnest($2::text[], $3::text[]) AS p(scope, arm_name) GROUP BY 1, 2, 3
		ON CONFLICT (account_id, scope, arm_name) DO UPDATE SET pulls = bandit_arms.pulls + EXCLUDED.pulls, updated_at = EXCLUDED.updated_at`,
		accountID, scopes, arms, s.Now())
	if err != nil {
		return fmt.Errorf("record pulls for account %d: %w", accountID, err)
	}
	return nil
}
