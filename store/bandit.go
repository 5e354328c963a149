package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/xbot/xbot/internal/bandit"
)

// LoadArms returns the account's arms of one scope (bandit_arms), in the order of names, creating any
// missing one at the prior Beta(1, 1). Stored arms not in names (a topic since removed from the config)
// are left alone and not returned. With no names it returns every stored arm of the scope, by name.
func (s *Store) LoadArms(ctx context.Context, db DBTX, accountID int64, scope string, names []string) ([]bandit.Arm, error) {
	arms, err := selectArms(ctx, db, accountID, scope, names)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return arms, nil
	}
	have := make(map[string]bandit.Arm, len(arms))
	for _, a := range arms {
		have[a.Name] = a
	}
	var missing []string
	for _, n := range names {
		if _, ok := have[n]; !ok && !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		rows, err := db.Query(ctx, `
			INSERT INTO bandit_arms (account_id, scope, arm_name, alpha, beta, updated_at)
			SELECT $1, $2, name, 1, 1, $4 FROM unnest($3::text[]) AS name
			ON CONFLICT (account_id, scope, arm_name) DO UPDATE SET arm_name = EXCLUDED.arm_name
			RETURNING arm_name, alpha, beta, pulls`, accountID, scope, missing, s.Now())
		if err != nil {
			return nil, fmt.Errorf("create %s arms of account %d: %w", scope, accountID, err)
		}
		created, err := scanArms(rows)
		if err != nil {
			return nil, fmt.Errorf("create %s arms of account %d: %w", scope, accountID, err)
		}
		for _, a := range created {
			have[a.Name] = a
		}
	}
	out := make([]bandit.Arm, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, have[n])
		}
	}
	return out, nil
}

func selectArms(ctx context.Context, db DBTX, accountID int64, scope string, names []string) ([]bandit.Arm, error) {
	rows, err := db.Query(ctx, `SELECT arm_name, alpha, beta, pulls FROM bandit_arms
		WHERE account_id = $1 AND scope = $2 AND (COALESCE(cardinality($3::text[]), 0) = 0 OR arm_name = ANY($3))
		ORDER BY arm_name`, accountID, scope, names)
	if err != nil {
		return nil, fmt.Errorf("load %s arms of account %d: %w", scope, accountID, err)
	}
	arms, err := scanArms(rows)
	if err != nil {
		return nil, fmt.Errorf("load %s arms of account %d: %w", scope, accountID, err)
	}
	return arms, nil
}

type armRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

func scanArms(rows armRows) ([]bandit.Arm, error) {
	defer rows.Close()
	arms := []bandit.Arm{}
	for rows.Next() {
		var a bandit.Arm
		if err := rows.Scan(&a.Name, &a.Alpha, &a.Beta, &a.Pulls); err != nil {
			return nil, fmt.Errorf("scan arm: %w", err)
		}
		arms = append(arms, a)
	}
	return arms, rows.Err()
}

// SaveArms stores the arms' posteriors (alpha, beta) for one scope, creating missing rows. Pulls are
// RecordPull's and are not overwritten.
func (s *Store) SaveArms(ctx context.Context, db DBTX, accountID int64, scope string, arms []bandit.Arm) error {
	if len(arms) == 0 {
		return nil
	}
	scopes := make([]string, len(arms))
	for i := range scopes {
		scopes[i] = scope
	}
	return saveArms(ctx, db, accountID, scopes, arms, s.Now())
}

func saveArms(ctx context.Context, db DBTX, accountID int64, scopes []string, arms []bandit.Arm, now time.Time) error {
	names := make([]string, len(arms))
	alphas := make([]float64, len(arms))
	betas := make([]float64, len(arms))
	for i, a := range arms {
		if !(a.Alpha > 0 && a.Beta > 0) {
			return fmt.Errorf("save arm %s/%s: alpha %v and beta %v must be positive", scopes[i], a.Name, a.Alpha, a.Beta)
		}
		names[i], alphas[i], betas[i] = a.Name, a.Alpha, a.Beta
	}
	_, err := db.Exec(ctx, `
		INSERT INTO bandit_arms (account_id, scope, arm_name, alpha, beta, updated_at)
		SELECT $1, sc, name, a, b, $6 FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[]) AS t(sc, name, a, b)
		ON CONFLICT (account_id, scope, arm_name) DO UPDATE SET
			alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, updated_at = EXCLUDED.updated_at`,
		accountID, scopes, names, alphas, betas, now)
	if err != nil {
		return fmt.Errorf("save arms of account %d: %w", accountID, err)
	}
	return nil
}

// RecordPull counts one pick of an arm (bandit_arms.pulls), creating the arm at the prior if missing.
func (s *Store) RecordPull(ctx context.Context, db DBTX, accountID int64, scope, armName string) error {
	return s.RecordPulls(ctx, db, accountID, []string{scope}, []string{armName})
}

// RecordPulls counts picks of several arms (scopes[i], arms[i]) in one statement.
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
