package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Decision statuses (content_metadata.status).
const (
	StatusPendingApproval = "pending_approval"
	StatusQueued          = "queued"
	StatusPosting         = "posting"
	StatusPosted          = "posted"
	StatusFailed          = "failed"
	StatusSkipped         = "skipped"
	StatusUnconfirmed     = "unconfirmed"
)

// Decision is one content_metadata row: a post or reply xbot decided to make.
type Decision struct {
	DecisionID         string
	AccountID          int64
	DecisionType       string // single | reply
	Content            string
	ContentHash        string
	GenerationSource   string // real | synthetic
	Status             string
	ScheduledAt        time.Time
	Topic              string
	Format             string
	Hook               string
	HourBucket         *int
	ArmPropensities    map[string]float64
	QualityScore       *float64
	LLMRequestID       string
	TargetTweetID      string
	TargetUsername     string
	TweetID            string
	PostedAt           *time.Time
	PostingStartedAt   *time.Time
	PostingAttempt     int
	SkipReason         string
	ErrorMessage       string
	ReconcileCheckedAt *time.Time
	// FirstPostingAt is when the first posting attempt started (an earlier attempt's post may appear late).
	FirstPostingAt *time.Time
	Backend        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// NormalizeText is how post texts are compared: case-folded, whitespace collapsed, trailing punctuation
// and surrounding quotes ignored. X may shorten links and trim, so reconciliation compares on this.
func NormalizeText(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' })
}

// ContentHash is the stored content_hash: sha256 of the normalised text.
func ContentHash(s string) string {
	sum := sha256.Sum256([]byte(NormalizeText(s)))
	return hex.EncodeToString(sum[:])
}

const decisionColumns = `decision_id::text, account_id, decision_type, content, content_hash, generation_source, status,
	scheduled_at, COALESCE(topic, ''), COALESCE(format, ''), COALESCE(hook, ''), hour_bucket, arm_propensities,
	quality_score, COALESCE(llm_request_id, ''), COALESCE(target_tweet_id, ''), COALESCE(target_username, ''),
	COALESCE(tweet_id, ''), posted_at, posting_started_at, posting_attempt, COALESCE(skip_reason, ''),
	COALESCE(error_message, ''), reconcile_checked_at, first_posting_at, COALESCE(backend, ''), created_at, updated_at`

// scanDecision scans decisionColumns, then into extra the columns that follow them.
func scanDecision(row pgx.Row, extra ...any) (*Decision, error) {
	d := &Decision{}
	var hb *int16
	var props []byte
	err := row.Scan(append([]any{&d.DecisionID, &d.AccountID, &d.DecisionType, &d.Content, &d.ContentHash, &d.GenerationSource,
		&d.Status, &d.ScheduledAt, &d.Topic, &d.Format, &d.Hook, &hb, &props, &d.QualityScore, &d.LLMRequestID,
		&d.TargetTweetID, &d.TargetUsername, &d.TweetID, &d.PostedAt, &d.PostingStartedAt, &d.PostingAttempt,
		&d.SkipReason, &d.ErrorMessage, &d.ReconcileCheckedAt, &d.FirstPostingAt, &d.Backend, &d.CreatedAt, &d.UpdatedAt}, extra...)...)
	if err != nil {
		return nil, err
	}
	if hb != nil {
		h := int(*hb)
		d.HourBucket = &h
	}
	if len(props) > 0 {
		if err := json.Unmarshal(props, &d.ArmPropensities); err != nil {
			return nil, fmt.Errorf("decode arm_propensities: %w", err)
		}
	}
	return d, nil
}

// InsertDecision stores a new decision. ContentHash is filled in when empty.
func (s *Store) InsertDecision(ctx context.Context, db DBTX, d *Decision) error {
	args, err := s.decisionInsertArgs(d)
	if err != nil {
		return err
	}
	if err := db.QueryRow(ctx, insertDecisionSQL, args...).Scan(&d.CreatedAt); err != nil {
		return fmt.Errorf("insert decision %s: %w", d.DecisionID, err)
	}
	d.UpdatedAt = d.CreatedAt
	return nil
}

// InsertDecisions stores new decisions like InsertDecision, sent together in one round trip (db must be
// able to send a batch: a transaction, a connection or the pool).
func (s *Store) InsertDecisions(ctx context.Context, db DBTX, ds []*Decision) error {
	bdb, ok := db.(batchSender)
	if !ok {
		return fmt.Errorf("insert %d decisions: %T cannot send a batch", len(ds), db)
	}
	b := &pgx.Batch{}
	for _, d := range ds {
		args, err := s.decisionInsertArgs(d)
		if err != nil {
			return err
		}
		b.Queue(insertDecisionSQL, args...).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&d.CreatedAt); err != nil {
				return fmt.Errorf("insert decision %s: %w", d.DecisionID, err)
			}
			d.UpdatedAt = d.CreatedAt
			return nil
		})
	}
	if err := bdb.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert %d decisions: %w", len(ds), err)
	}
	return nil
}

// batchSender is what sends a pgx.Batch: a transaction, a connection or the pool.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

const insertDecisionSQL = `
	INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source,
		status, scheduled_at, topic, format, hook, hour_bucket, arm_propensities, quality_score, llm_request_id,
		target_tweet_id, target_username, skip_reason, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), NULLIF($10, ''), NULLIF($11, ''), $12, $13, $14,
		NULLIF($15, ''), NULLIF($16, ''), NULLIF($17, ''), NULLIF($18, ''), $19, $19)
	RETURNING created_at`

// decisionInsertArgs are insertDecisionSQL's arguments for d (its ContentHash filled in when empty).
func (s *Store) decisionInsertArgs(d *Decision) ([]any, error) {
	if d.ContentHash == "" {
		d.ContentHash = ContentHash(d.Content)
	}
	props, err := json.Marshal(d.ArmPropensities)
	if err != nil {
		return nil, fmt.Errorf("insert decision %s: encode propensities: %w", d.DecisionID, err)
	}
	if d.ArmPropensities == nil {
		props = []byte("{}")
	}
	return []any{d.DecisionID, d.AccountID, d.DecisionType, d.Content, d.ContentHash, d.GenerationSource, d.Status,
		d.ScheduledAt, d.Topic, d.Format, d.Hook, d.HourBucket, props, d.QualityScore, d.LLMRequestID,
		d.TargetTweetID, d.TargetUsername, d.SkipReason, s.Now()}, nil
}

// GetDecision reads one decision.
func (s *Store) GetDecision(ctx context.Context, db DBTX, decisionID string) (*Decision, error) {
	d, err := scanDecision(db.QueryRow(ctx, `SELECT `+decisionColumns+` FROM content_metadata WHERE decision_id = $1`, decisionID))
	if err != nil {
		return nil, notFound(err, "decision "+decisionID)
	}
	return d, nil
}

// PostView is what a post job reads before it acts: the decision, the posting switch that applies to its
// account (nil when none is stored; EffectivePostingSwitch) and the account's X circuit (GetCircuit).
type PostView struct {
	Decision *Decision
	Switch   *PostingSwitch
	Circuit  *Circuit
}

// GetPostView reads a decision with its account's posting switch and X circuit in one statement.
func (s *Store) GetPostView(ctx context.Context, db DBTX, decisionID string) (*PostView, error) {
	var swAccount *int64
	var swPaused *bool
	var swReason *string
	var swSetAt *time.Time
	var until, opened, probing *time.Time
	var reason *string
	d, err := scanDecision(db.QueryRow(ctx, `
		SELECT d.*, sw.account_id, sw.paused, sw.reason, sw.set_at, c.open_until, c.reason, c.opened_at, c.probing_until
		FROM (SELECT `+decisionColumns+` FROM content_metadata WHERE decision_id = $1) d
		LEFT JOIN LATERAL (SELECT COALESCE(ps.account_id, 0) AS account_id, ps.paused, COALESCE(ps.reason, '') AS reason, ps.set_at
			FROM posting_switches ps WHERE ps.account_id = d.account_id OR ps.account_id IS NULL
			ORDER BY ps.account_id NULLS LAST LIMIT 1) sw ON true
		LEFT JOIN circuits c ON c.name = 'x:' || d.account_id`, decisionID),
		&swAccount, &swPaused, &swReason, &swSetAt, &until, &reason, &opened, &probing)
	if err != nil {
		return nil, notFound(err, "decision "+decisionID)
	}
	v := &PostView{Decision: d, Circuit: circuitOf(XCircuitName(d.AccountID), until, reason, opened, probing)}
	if swPaused != nil {
		v.Switch = &PostingSwitch{AccountID: *swAccount, Paused: *swPaused, Reason: deref(swReason), SetAt: *swSetAt}
	}
	return v, nil
}

// ClaimPosting moves a queued or posting row to posting with a new attempt number (the fencing token) and
// posting_started_at = now. It returns the new attempt, or ErrNotFound when the row is in no such state.
func (s *Store) ClaimPosting(ctx context.Context, db DBTX, decisionID, backend string, prevAttempt int) (int, error) {
	var attempt int
	err := db.QueryRow(ctx, `
		UPDATE content_metadata SET status = 'posting', posting_attempt = posting_attempt + 1,
			posting_started_at = $3, first_posting_at = COALESCE(first_posting_at, $3), reconcile_checked_at = NULL,
			backend = $4, updated_at = $3
		WHERE decision_id = $1 AND status IN ('queued', 'posting') AND posting_attempt = $2
		RETURNING posting_attempt`, decisionID, prevAttempt, s.Now(), backend).Scan(&attempt)
	if err != nil {
		return 0, notFound(err, "claim decision "+decisionID)
	}
	return attempt, nil
}

// PostPace is an account's pace for original posts at send time: MIN_POST_SPACING between sends and
// MAX_POSTS_PER_DAY per day of the account's time zone.
type PostPace struct {
	Spacing  time.Duration
	PerDay   int       // 0: no cap
	DayStart time.Time // the account's day holding now
	DayEnd   time.Time
}

// ClaimPaced claims a queued original post like ClaimPosting when the account's pace allows a send now;
// otherwise it claims nothing and returns when the next slot opens. It is ClaimPacedMany for one post.
func (s *Store) ClaimPaced(ctx context.Context, db DBTX, decisionID string, accountID int64, backend string, prevAttempt int, p PostPace) (int, time.Time, error) {
	res, err := s.ClaimPacedMany(ctx, db, accountID, backend, []PaceClaim{{DecisionID: decisionID, PrevAttempt: prevAttempt}}, p)
	if err != nil {
		return 0, time.Time{}, err
	}
	return res[0].Attempt, res[0].Next, res[0].Err
}

// PaceClaim is one queued original post to claim under its account's pace: the row and the attempt it was
// read at (the fencing token).
type PaceClaim struct {
	DecisionID  string
	PrevAttempt int
}

// PaceResult is one claim's outcome: claimed under Attempt; or, when the pace left no slot for it, claimed
// nothing and Next is when one opens; or Err is ErrNotFound (another run changed the row first).
type PaceResult struct {
	Attempt int
	Next    time.Time
	Err     error
}

// ClaimPacedMany claims queued original posts of one account, in order, as far as its pace allows now
// (MIN_POST_SPACING: one send per spacing; MAX_POSTS_PER_DAY), each like ClaimPosting. Claims of one
// account are serialised by a transaction-scoped advisory lock (never the account's row, whose lock would
// stall every insert that references the account), and the pace read and the claims are one statement sent
// with the lock in one round trip: given the pool, they are one implicit transaction, committed durably
// before this returns, so the lock is held for no client round trip; given a transaction, they join it.
func (s *Store) ClaimPacedMany(ctx context.Context, db DBTX, accountID int64, backend string, claims []PaceClaim, p PostPace) ([]PaceResult, error) {
	bdb, ok := db.(batchSender)
	if !ok {
		return nil, fmt.Errorf("claim posts of account %d: %T cannot send a batch", accountID, db)
	}
	ids, prev := make([]string, len(claims)), make([]int32, len(claims))
	for i, c := range claims {
		ids[i], prev[i] = c.DecisionID, int32(c.PrevAttempt)
	}
	now := s.Now()
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':pace:' || $1::bigint::text, 0))`, accountID)
	// Both pace reads use the content_metadata_post_pace index: the newest entry and the day's range, never
	// the account's whole history. The statement's snapshot is taken after the lock, so it sees every claim
	// committed before. The claims take the slots the pace leaves, in order; each is fenced by its attempt.
	var last *time.Time
	var today int
	var claimedOrds []int64 // 1-based positions in claims
	var claimedAttempts []int32
	b.Queue(`
		WITH pace AS (
			SELECT (SELECT COALESCE(posting_started_at, posted_at) FROM content_metadata
				WHERE account_id = $1 AND decision_type = 'single' AND status IN ('posting', 'posted', 'unconfirmed')
				  AND decision_id <> ALL($2::uuid[]) AND COALESCE(posting_started_at, posted_at) IS NOT NULL
				ORDER BY COALESCE(posting_started_at, posted_at) DESC LIMIT 1) AS last,
			(SELECT count(*) FROM content_metadata
				WHERE account_id = $1 AND decision_type = 'single' AND status IN ('posting', 'posted', 'unconfirmed')
				  AND decision_id <> ALL($2::uuid[]) AND COALESCE(posting_started_at, posted_at) >= $3
				  AND COALESCE(posting_started_at, posted_at) < $4) AS today
		), slots AS (
			SELECT LEAST(
				CASE WHEN NOT $8 THEN 2147483647 WHEN last IS NULL OR last <= $9 THEN 1 ELSE 0 END,
				CASE WHEN $10 <= 0 THEN 2147483647 ELSE GREATEST($10 - today, 0) END) AS n
			FROM pace
		), pick AS (
			SELECT c.decision_id, u.attempt, u.ord FROM unnest($2::uuid[], $7::int[]) WITH ORDINALITY AS u (id, attempt, ord)
			JOIN content_metadata c ON c.decision_id = u.id
			WHERE c.account_id = $1 AND c.status IN ('queued', 'posting') AND c.posting_attempt = u.attempt
			ORDER BY u.ord LIMIT (SELECT n FROM slots)
		), claimed AS (
			UPDATE content_metadata c SET status = 'posting', posting_attempt = c.posting_attempt + 1,
				posting_started_at = $5, first_posting_at = COALESCE(c.first_posting_at, $5), reconcile_checked_at = NULL,
				backend = $6, updated_at = $5
			FROM pick WHERE c.decision_id = pick.decision_id AND c.status IN ('queued', 'posting') AND c.posting_attempt = pick.attempt
			RETURNING pick.ord, c.posting_attempt
		)
		SELECT last, today, ARRAY(SELECT ord FROM claimed), ARRAY(SELECT posting_attempt FROM claimed) FROM pace`,
		accountID, ids, p.DayStart, p.DayEnd, now, backend, prev, p.Spacing > 0, now.Add(-p.Spacing), p.PerDay,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&last, &today, &claimedOrds, &claimedAttempts) })
	if err := bdb.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("claim posts of account %d: %w", accountID, err)
	}
	got := make(map[int]int, len(claimedOrds))
	for i, ord := range claimedOrds {
		got[int(ord)-1] = int(claimedAttempts[i])
	}
	// The pace after these claims says when the next slot opens for the posts that got none.
	if len(got) > 0 {
		last, today = &now, today+len(got)
	}
	var next time.Time
	if last != nil && p.Spacing > 0 && last.Add(p.Spacing).After(now) {
		next = last.Add(p.Spacing)
	}
	if p.PerDay > 0 && today >= p.PerDay && p.DayEnd.After(next) {
		next = p.DayEnd
	}
	out := make([]PaceResult, len(claims))
	for i, c := range claims {
		switch attempt, ok := got[i]; {
		case ok:
			out[i].Attempt = attempt
		case !next.IsZero():
			out[i].Next = next
		default:
			out[i].Err = fmt.Errorf("claim decision %s: %w", c.DecisionID, ErrNotFound)
		}
	}
	return out, nil
}

// PostedRecord is what a successful post records.
type PostedRecord struct {
	DecisionID string
	Attempt    int
	Backend    string // x | simulator
	TweetID    string
	PostedAt   time.Time
}

// MarkPosted records a post: posted_decisions row and content_metadata posted, fenced by the attempt.
// ErrNotFound means a newer attempt (or a person) changed the row first.
func (s *Store) MarkPosted(ctx context.Context, db DBTX, r PostedRecord) error {
	tag, err := db.Exec(ctx, `
		WITH upd AS (
			UPDATE content_metadata SET status = 'posted', tweet_id = $2, posted_at = $3, backend = $4,
				error_message = NULL, updated_at = $6
			WHERE decision_id = $1 AND status = 'posting' AND posting_attempt = $5
			RETURNING decision_id, account_id, decision_type, generation_source, content
		)
		INSERT INTO posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
		SELECT decision_id, account_id, decision_type, generation_source, $4, $2, content, $3 FROM upd`,
		r.DecisionID, r.TweetID, r.PostedAt, r.Backend, r.Attempt, s.Now())
	if err != nil {
		return fmt.Errorf("mark decision %s posted: %w", r.DecisionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark decision %s posted (attempt %d): %w", r.DecisionID, r.Attempt, ErrNotFound)
	}
	return nil
}

// Finish moves a posting row of the given attempt to a final or waiting status (queued, failed, skipped,
// unconfirmed) with a reason. attempt < 0 matches any attempt (for rows not yet claimed).
func (s *Store) Finish(ctx context.Context, db DBTX, decisionID string, attempt int, status, reason string) error {
	var skip, errMsg *string
	switch status {
	case StatusSkipped:
		skip = &reason
	case StatusFailed, StatusUnconfirmed:
		errMsg = &reason
	case StatusQueued:
	default:
		return fmt.Errorf("finish decision %s: status %q is not a finishing status", decisionID, status)
	}
	tag, err := db.Exec(ctx, `
		UPDATE content_metadata SET status = $3, skip_reason = COALESCE($4, skip_reason),
			error_message = COALESCE($5, error_message), updated_at = $6
		WHERE decision_id = $1 AND status IN ('queued', 'posting') AND ($2 < 0 OR posting_attempt = $2)`,
		decisionID, attempt, status, skip, errMsg, s.Now())
	if err != nil {
		return fmt.Errorf("finish decision %s as %s: %w", decisionID, status, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish decision %s as %s (attempt %d): %w", decisionID, status, attempt, ErrNotFound)
	}
	return nil
}

// SkipQueued marks a row that is still queued skipped with a reason; a row a run has claimed (posting)
// or finished is left alone (ErrNotFound).
func (s *Store) SkipQueued(ctx context.Context, db DBTX, decisionID, reason string) error {
	tag, err := db.Exec(ctx, `UPDATE content_metadata SET status = 'skipped', skip_reason = $2, updated_at = $3
		WHERE decision_id = $1 AND status = 'queued'`, decisionID, reason, s.Now())
	if err != nil {
		return fmt.Errorf("skip decision %s: %w", decisionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("skip decision %s: not queued: %w", decisionID, ErrNotFound)
	}
	return nil
}

// MarkReconcileChecked records the first empty timeline read of a reconciliation, fenced by attempt.
func (s *Store) MarkReconcileChecked(ctx context.Context, db DBTX, decisionID string, attempt int, at time.Time) error {
	tag, err := db.Exec(ctx, `UPDATE content_metadata SET reconcile_checked_at = $3, updated_at = $3
		WHERE decision_id = $1 AND status = 'posting' AND posting_attempt = $2`, decisionID, attempt, at)
	if err != nil {
		return fmt.Errorf("mark decision %s reconcile-checked: %w", decisionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark decision %s reconcile-checked: %w", decisionID, ErrNotFound)
	}
	return nil
}

// CanonicalQueue runs the operators' canonical query verbatim (plus the synthetic variant in shadow mode).
func (s *Store) CanonicalQueue(ctx context.Context, db DBTX, includeSynthetic bool) ([]*Decision, error) {
	q := `SELECT * FROM content_metadata
WHERE status = 'queued' AND generation_source = 'real' AND scheduled_at <= NOW()
ORDER BY scheduled_at ASC LIMIT 5`
	if includeSynthetic {
		q = `SELECT * FROM content_metadata
WHERE status = 'queued' AND generation_source IN ('real', 'synthetic') AND scheduled_at <= NOW()
ORDER BY scheduled_at ASC LIMIT 5`
	}
	rows, err := db.Query(ctx, `SELECT `+decisionColumns+` FROM (`+q+`) c`)
	if err != nil {
		return nil, fmt.Errorf("canonical queue query: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Decision, error) { return scanDecision(r) })
	if err != nil {
		return nil, fmt.Errorf("canonical queue query: %w", err)
	}
	return out, nil
}

// Orphan is a row the post sweep must act on.
type Orphan struct {
	DecisionID string
	Status     string
	Attempt    int // posting_attempt when read (the fencing token for finishing it)
	// GaveUp: a post job for this decision was discarded (River gave up) and none is live.
	GaveUp bool
}

// PostOrphans finds due queued rows and posting rows started before staleBefore that have no live post job.
func (s *Store) PostOrphans(ctx context.Context, db DBTX, now, staleBefore time.Time, limit int) ([]Orphan, error) {
	rows, err := db.Query(ctx, `
		SELECT c.decision_id::text, c.status, c.posting_attempt,
			EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'post' AND j.state = 'discarded'
				AND j.args @> jsonb_build_object('decision_id', c.decision_id::text))
		FROM content_metadata c
		WHERE ((c.status = 'queued' AND c.scheduled_at <= $1) OR (c.status = 'posting' AND c.posting_started_at < $2))
		  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'post'
			AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
			AND j.args @> jsonb_build_object('decision_id', c.decision_id::text))
		ORDER BY c.scheduled_at
		LIMIT $3`, now, staleBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("post orphans: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Orphan, error) {
		var o Orphan
		return o, r.Scan(&o.DecisionID, &o.Status, &o.Attempt, &o.GaveUp)
	})
	if err != nil {
		return nil, fmt.Errorf("post orphans: %w", err)
	}
	return out, nil
}

// PacingItem is one scheduled or posted item of an account, for spacing and daily caps.
type PacingItem struct {
	At time.Time
}

// PacingTimes returns the times of the account's queued, posting and posted items between from and to.
func (s *Store) PacingTimes(ctx context.Context, db DBTX, accountID int64, from, to time.Time) ([]time.Time, error) {
	rows, err := db.Query(ctx, `
		SELECT COALESCE(posted_at, scheduled_at) FROM content_metadata
		WHERE account_id = $1 AND status IN ('queued', 'posting', 'posted')
		  AND COALESCE(posted_at, scheduled_at) BETWEEN $2 AND $3
		ORDER BY 1`, accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("pacing times of account %d: %w", accountID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, fmt.Errorf("pacing times of account %d: %w", accountID, err)
	}
	return out, nil
}

// InsertReply stores a reply decision unless the target already has one (a mention is answered once).
func (s *Store) InsertReply(ctx context.Context, db DBTX, d *Decision) (bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM content_metadata WHERE account_id = $1 AND target_tweet_id = $2 AND decision_type = 'reply')`,
		d.AccountID, d.TargetTweetID).Scan(&exists); err != nil {
		return false, fmt.Errorf("insert reply to %s: %w", d.TargetTweetID, err)
	}
	if exists {
		return false, nil
	}
	if err := s.InsertDecision(ctx, db, d); err != nil {
		return false, err
	}
	return true, nil
}

// AnsweredTargets reports which of the tweet ids already have a reply decision.
func (s *Store) AnsweredTargets(ctx context.Context, db DBTX, accountID int64, tweetIDs []string) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT target_tweet_id FROM content_metadata
		WHERE account_id = $1 AND decision_type = 'reply' AND target_tweet_id = ANY($2)`, accountID, tweetIDs)
	if err != nil {
		return nil, fmt.Errorf("answered targets: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("answered targets: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// RepliesSince counts the account's queued or posted replies created since hourAgo and since dayAgo.
func (s *Store) RepliesSince(ctx context.Context, db DBTX, accountID int64, hourAgo, dayAgo time.Time) (hour, day int, err error) {
	err = db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE created_at >= $2), count(*) FROM content_metadata
		WHERE account_id = $1 AND decision_type = 'reply' AND status IN ('queued', 'posting', 'posted', 'unconfirmed')
		  AND created_at >= $3`, accountID, hourAgo, dayAgo).Scan(&hour, &day)
	if err != nil {
		return 0, 0, fmt.Errorf("replies since: %w", err)
	}
	return hour, day, nil
}

// DecisionFeatures finds the arms of the account's decision with this text (by content hash), for the
// simulator's audience model; ok is false when no decision has it.
func (s *Store) DecisionFeatures(ctx context.Context, db DBTX, text string) (topic, format, hook string, hour int, ok bool, err error) {
	var hb *int16
	err = db.QueryRow(ctx, `SELECT COALESCE(topic, ''), COALESCE(format, ''), COALESCE(hook, ''), hour_bucket
		FROM content_metadata WHERE content_hash = $1 ORDER BY created_at DESC LIMIT 1`, ContentHash(text)).
		Scan(&topic, &format, &hook, &hb)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", 0, false, nil
	}
	if err != nil {
		return "", "", "", 0, false, fmt.Errorf("decision features: %w", err)
	}
	hour = -1
	if hb != nil {
		hour = int(*hb)
	}
	return topic, format, hook, hour, true, nil
}
