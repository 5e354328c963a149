package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/bandit"
)

// The account's learning state (migration 011): per model the newest learned outcomes one by one
// (learn_window) and the statistics of the rest per kind (learn_stats).

type statsKey struct {
	model     string
	simulated bool
}

// statsKeys are every model and kind, in the order they are written.
var statsKeys = []statsKey{{ModelPost, false}, {ModelPost, true}, {ModelReply, false}, {ModelReply, true}}

// learnedObs is one learned outcome as its model reads it.
type learnedObs struct {
	id        int64
	model     string
	simulated bool
	obs       bandit.Observation
}

// modelState is the account's learning state during a run, with the changes the run makes to it.
type modelState struct {
	rebuilt int // learned outcomes read to rebuild it; 0: loaded
	window  map[string][]learnedObs
	kept    map[string]int
	stats   map[statsKey]*bandit.Stats
	changed map[statsKey]bool
	inserts []learnedObs // window rows to add
	deletes []int64      // window rows (outcome ids) that moved into the statistics
	clear   bool         // the stored window is stale: delete it before adding

	stale    bool           // a statistics row kept at another half-life
	stored   []learnedObs   // the window as read
	inWindow map[int64]bool // its outcome ids
	fresh    []learnedObs   // this run's outcomes with a first reading
}

func newModelState() *modelState {
	return &modelState{window: map[string][]learnedObs{}, kept: map[string]int{}, stats: map[statsKey]*bandit.Stats{},
		changed: map[statsKey]bool{}, inWindow: map[int64]bool{}}
}

// queueLoad queues the reads of the account's statistics (rolled to p.Now) and window, and of the
// observations of ids (this run's outcomes).
func (st *modelState) queueLoad(b *pgx.Batch, accountID int64, ids []int64, p LearnParams) {
	b.Queue(`SELECT model, simulated, as_of, half_life_seconds, features, a, b, c, w
		FROM learn_stats WHERE account_id = $1`, accountID).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k statsKey
			var halfLife float64
			var features []string
			s := &bandit.Stats{}
			if err := rows.Scan(&k.model, &k.simulated, &s.At, &halfLife, &features, &s.A, &s.B, &s.C, &s.W); err != nil {
				return fmt.Errorf("statistics: %w", err)
			}
			if halfLife != p.HalfLife.Seconds() {
				st.stale = true
				continue
			}
			s.HalfLife = p.HalfLife
			for _, f := range features {
				s.Features = append(s.Features, decodeFeature(f))
			}
			if err := s.Validate(); err != nil {
				return fmt.Errorf("statistics (%s): %w", k.model, err)
			}
			s.RollTo(p.Now)
			st.stats[k] = s
		}
		return rows.Err()
	})
	b.Queue(`SELECT outcome_id, model, simulated, posted_at, arms, log_rate FROM learn_window
		WHERE account_id = $1`, accountID).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var o learnedObs
			var arms []string
			if err := rows.Scan(&o.id, &o.model, &o.simulated, &o.obs.At, &arms, &o.obs.LogRate); err != nil {
				return fmt.Errorf("window: %w", err)
			}
			o.obs.Arms = make([]bandit.Feature, len(arms))
			for i, a := range arms {
				o.obs.Arms[i] = decodeFeature(a)
			}
			st.inWindow[o.id] = true
			st.stored = append(st.stored, o)
		}
		return rows.Err()
	})
	b.Queue(observationsSQL(`o.id = ANY($1)`), ids).Query(func(rows pgx.Rows) error {
		return scanObservations(rows, func(o learnedObs) { st.fresh = append(st.fresh, o) })
	})
}

// settle adds this run's outcomes to the loaded state, newest first, or rebuilds the state from every
// learned outcome when there is none at p.HalfLife.
func (st *modelState) settle(ctx context.Context, tx pgx.Tx, accountID int64, ids []int64, p LearnParams) error {
	current := !st.stale
	for _, k := range statsKeys {
		if st.stats[k] == nil {
			current = false
		}
	}
	if !current {
		return st.rebuild(ctx, tx, accountID, ids, p)
	}
	all := st.stored
	for _, o := range st.fresh {
		// An outcome is learned once; one whose learned_at was cleared by hand is still in the window (or
		// in the statistics, which cannot tell): counted once, not twice.
		if !st.inWindow[o.id] {
			all = append(all, o)
		}
	}
	slices.SortFunc(all, newestFirst)
	for _, o := range all {
		st.put(o, st.inWindow[o.id], p)
	}
	return nil
}

// newestFirst orders learned outcomes by posted_at, then id, descending (as the rebuild reads them).
func newestFirst(a, b learnedObs) int {
	return cmp.Or(b.obs.At.Compare(a.obs.At), cmp.Compare(b.id, a.id))
}

// put places one outcome, given newest first: into its model's window while it has room and the outcome
// is younger than modelWindowHalfLives, otherwise into its kind's statistics.
func (st *modelState) put(o learnedObs, stored bool, p LearnParams) {
	cutoff := p.Now.Add(-time.Duration(modelWindowHalfLives) * p.HalfLife)
	if st.kept[o.model] < p.Window && o.obs.At.After(cutoff) {
		st.kept[o.model]++
		st.window[o.model] = append(st.window[o.model], o)
		if !stored {
			st.inserts = append(st.inserts, o)
		}
		return
	}
	k := statsKey{o.model, o.simulated}
	st.stats[k].Add(o.obs)
	st.changed[k] = true
	if stored {
		st.deletes = append(st.deletes, o.id)
	}
}

// rebuild makes the state from every learned outcome of the account and ids, read once, newest first.
func (st *modelState) rebuild(ctx context.Context, tx pgx.Tx, accountID int64, ids []int64, p LearnParams) error {
	st.clear = true
	for _, k := range statsKeys {
		st.stats[k] = bandit.NewStats(p.Now, p.HalfLife)
		st.changed[k] = true
	}
	for _, kind := range []string{"single", "reply"} {
		rows, err := tx.Query(ctx, observationsSQL(`pd.account_id = $2 AND pd.decision_type = $3 AND (o.learned_at IS NOT NULL OR o.id = ANY($1))
			ORDER BY pd.posted_at DESC, o.id DESC`), ids, accountID, kind)
		if err != nil {
			return fmt.Errorf("learn run: rebuild the state of account %d: %w", accountID, err)
		}
		err = scanObservations(rows, func(o learnedObs) {
			st.rebuilt++
			st.put(o, false, p)
		})
		if err != nil {
			return fmt.Errorf("learn run: rebuild the state of account %d: %w", accountID, err)
		}
	}
	return nil
}

// observationsSQL reads the outcomes matching where (on outcomes o, posted_decisions pd, content_metadata
// cm) that a model fits: first reading stored, impressions at it.
func observationsSQL(where string) string {
	return `
		SELECT o.id, pd.decision_type, o.simulated, COALESCE(cm.topic, ''), COALESCE(cm.format, ''), COALESCE(cm.hook, ''),
		       cm.hour_bucket, pd.posted_at, o.first_engagements, o.first_impressions, o.first_engagement_rate, o.impressions
		FROM outcomes o
		JOIN posted_decisions pd ON pd.decision_id = o.decision_id
		JOIN content_metadata cm ON cm.decision_id = o.decision_id
		WHERE o.status = 'ok' AND o.first_engagement_rate IS NOT NULL AND pd.decision_type IN ('single', 'reply')
		  AND ` + where
}

// scanObservations calls fn with each row of an observationsSQL query that a model can fit, in order.
func scanObservations(rows pgx.Rows, fn func(learnedObs)) error {
	defer rows.Close()
	for rows.Next() {
		var o learnedObs
		var kind, topic, format, hook string
		var hour *int16
		var eng, imp *int64
		var firstER float64
		var latestImp int64
		if err := rows.Scan(&o.id, &kind, &o.simulated, &topic, &format, &hook, &hour, &o.obs.At, &eng, &imp, &firstER, &latestImp); err != nil {
			return fmt.Errorf("scan outcome: %w", err)
		}
		switch {
		case eng != nil && imp != nil && *imp > 0:
			o.obs.LogRate = bandit.LogRate(float64(*eng), float64(*imp))
		case latestImp > 0:
			// Stored before the first reading's counts were kept: its rate at the latest impressions.
			o.obs.LogRate = bandit.LogRate(math.Round(firstER*float64(latestImp)), float64(latestImp))
		default:
			continue
		}
		if kind == "reply" {
			o.model = ModelReply
			o.obs.Arms = []bandit.Feature{{Scope: bandit.ScopeReply, Arm: cmpString(topic, bandit.ReplyDefaultArm)}}
		} else {
			o.model = ModelPost
			for _, f := range []bandit.Feature{{Scope: bandit.ScopeTopic, Arm: topic}, {Scope: bandit.ScopeFormat, Arm: format},
				{Scope: bandit.ScopeHook, Arm: hook}} {
				if f.Arm != "" {
					o.obs.Arms = append(o.obs.Arms, f)
				}
			}
			if hour != nil {
				o.obs.Arms = append(o.obs.Arms, bandit.Feature{Scope: bandit.ScopeHour, Arm: strconv.Itoa(int(*hour))})
			}
		}
		fn(o)
	}
	return rows.Err()
}

// model is what the model fits in this mode: the statistics of the kinds it reads and its window.
func (st *modelState) model(model string, allKinds bool, p LearnParams) (*bandit.Stats, []bandit.Observation, error) {
	base := bandit.NewStats(p.Now, p.HalfLife)
	var obs []bandit.Observation
	for _, k := range statsKeys {
		if k.model == model && (allKinds || !k.simulated) {
			if err := base.Merge(st.stats[k]); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, o := range st.window[model] {
		if allKinds || !o.simulated {
			obs = append(obs, o.obs)
		}
	}
	return base, obs, nil
}

// queueSave queues the run's changes to learn_window and learn_stats.
func (st *modelState) queueSave(b *pgx.Batch, accountID int64, now time.Time) {
	if st.clear {
		b.Queue(`DELETE FROM learn_window WHERE account_id = $1`, accountID)
	}
	if len(st.deletes) > 0 {
		b.Queue(`DELETE FROM learn_window WHERE outcome_id = ANY($1)`, st.deletes)
	}
	if n := len(st.inserts); n > 0 {
		ids, models, sims, ats, arms, rates := make([]int64, n), make([]string, n), make([]bool, n), make([]time.Time, n),
			make([]string, n), make([]float64, n)
		for i, o := range st.inserts {
			keys := make([]string, len(o.obs.Arms))
			for j, f := range o.obs.Arms {
				keys[j] = f.Scope + ":" + f.Arm
			}
			ids[i], models[i], sims[i], ats[i], rates[i] = o.id, o.model, o.simulated, o.obs.At, o.obs.LogRate
			arms[i] = strings.Join(keys, armSeparator)
		}
		b.Queue(`
			INSERT INTO learn_window (outcome_id, account_id, model, simulated, posted_at, arms, log_rate)
			SELECT id, $1, model, sim, at, string_to_array(arms, $8), rate
			FROM unnest($2::bigint[], $3::text[], $4::bool[], $5::timestamptz[], $6::text[], $7::float8[]) AS t(id, model, sim, at, arms, rate)`,
			accountID, ids, models, sims, ats, arms, rates, armSeparator)
	}
	for _, k := range statsKeys {
		if !st.changed[k] {
			continue
		}
		s := st.stats[k]
		s.RollTo(now)
		features := make([]string, len(s.Features))
		for i, f := range s.Features {
			features[i] = f.Scope + ":" + f.Arm
		}
		b.Queue(`
			INSERT INTO learn_stats (account_id, model, simulated, as_of, half_life_seconds, features, a, b, c, w, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $4)
			ON CONFLICT (account_id, model, simulated) DO UPDATE SET as_of = EXCLUDED.as_of,
				half_life_seconds = EXCLUDED.half_life_seconds, features = EXCLUDED.features, a = EXCLUDED.a, b = EXCLUDED.b,
				c = EXCLUDED.c, w = EXCLUDED.w, updated_at = EXCLUDED.updated_at`,
			accountID, k.model, k.simulated, s.At, s.HalfLife.Seconds(), features, s.A, s.B, s.C, s.W)
	}
}

// armSeparator joins a window row's arms on the way in: configured names cannot hold control characters.
const armSeparator = "\x1f"

// decodeFeature reads "scope:arm" (scopes have no colon; arms may).
func decodeFeature(s string) bandit.Feature {
	scope, arm, _ := strings.Cut(s, ":")
	return bandit.Feature{Scope: scope, Arm: arm}
}
