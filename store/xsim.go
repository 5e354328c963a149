package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/xsim"
)

// XSim implements xsim.Store: the simulator's world in the sim_* tables.
type XSim struct {
	db interface {
		DBTX
		Begin(ctx context.Context) (pgx.Tx, error)
	}
}

// NewXSim returns the simulator store over db (a pool; CreatePost opens its own transaction).
func NewXSim(db interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}) *XSim {
	return &XSim{db: db}
}

var _ xsim.Store = (*XSim)(nil)

// twitterEpochMS is the snowflake epoch: ids look like X's and grow with time.
const twitterEpochMS = 1288834974657

func simNotFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, xsim.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (x *XSim) EnsureState(ctx context.Context, def xsim.State) (xsim.State, error) {
	if _, err := x.db.Exec(ctx, `INSERT INTO sim_state (id, seed, default_rate) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`,
		def.Seed, def.DefaultRate); err != nil {
		return xsim.State{}, fmt.Errorf("insert sim_state: %w", err)
	}
	return x.State(ctx)
}

func (x *XSim) State(ctx context.Context) (xsim.State, error) {
	var st xsim.State
	var offsetMS int64
	err := x.db.QueryRow(ctx, `SELECT seed, clock_offset_ms, default_rate FROM sim_state WHERE id = 1`).
		Scan(&st.Seed, &offsetMS, &st.DefaultRate)
	if err != nil {
		return st, simNotFound(err, "read sim_state")
	}
	st.ClockOffset = time.Duration(offsetMS) * time.Millisecond
	return st, nil
}

func (x *XSim) AdvanceClock(ctx context.Context, by time.Duration) (xsim.State, error) {
	if _, err := x.db.Exec(ctx, `UPDATE sim_state SET clock_offset_ms = clock_offset_ms + $1, updated_at = now() WHERE id = 1`,
		by.Milliseconds()); err != nil {
		return xsim.State{}, fmt.Errorf("advance sim clock: %w", err)
	}
	return x.State(ctx)
}

func (x *XSim) SetDefaultRate(ctx context.Context, rate float64) error {
	if _, err := x.db.Exec(ctx, `UPDATE sim_state SET default_rate = $1, updated_at = now() WHERE id = 1`, rate); err != nil {
		return fmt.Errorf("set sim default rate: %w", err)
	}
	return nil
}

func (x *XSim) NextMentionSeq(ctx context.Context, n int) (int64, error) {
	var next int64
	err := x.db.QueryRow(ctx, `UPDATE sim_state SET mention_seq = mention_seq + $1 WHERE id = 1 RETURNING mention_seq - $1`, n).Scan(&next)
	if err != nil {
		return 0, simNotFound(err, "reserve mention numbers")
	}
	return next, nil
}

func (x *XSim) UpsertUser(ctx context.Context, u xsim.User) error {
	_, err := x.db.Exec(ctx, `
		INSERT INTO sim_users (id, username, name, description, followers_count, following_count, listed_count, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, name = EXCLUDED.name,
			description = EXCLUDED.description, followers_count = EXCLUDED.followers_count,
			following_count = EXCLUDED.following_count, listed_count = EXCLUDED.listed_count`,
		u.ID, u.Username, u.Name, u.Description, u.FollowersCount, u.FollowingCount, u.ListedCount, u.CreatedAt)
	if err != nil {
		return fmt.Errorf("upsert sim user %d: %w", u.ID, err)
	}
	return nil
}

const simUserCols = `id, username, name, description, followers_count, following_count, listed_count, created_at`

func scanSimUser(row pgx.Row) (xsim.User, error) {
	var u xsim.User
	err := row.Scan(&u.ID, &u.Username, &u.Name, &u.Description, &u.FollowersCount, &u.FollowingCount, &u.ListedCount, &u.CreatedAt)
	return u, err
}

func (x *XSim) User(ctx context.Context, id int64) (xsim.User, error) {
	u, err := scanSimUser(x.db.QueryRow(ctx, `SELECT `+simUserCols+` FROM sim_users WHERE id = $1`, id))
	if err != nil {
		return u, simNotFound(err, fmt.Sprintf("sim user %d", id))
	}
	return u, nil
}

func (x *XSim) UserByUsername(ctx context.Context, username string) (xsim.User, error) {
	u, err := scanSimUser(x.db.QueryRow(ctx, `SELECT `+simUserCols+` FROM sim_users WHERE lower(username) = lower($1)`, username))
	if err != nil {
		return u, simNotFound(err, fmt.Sprintf("sim user @%s", username))
	}
	return u, nil
}

func (x *XSim) Users(ctx context.Context, ids []int64) ([]xsim.User, error) {
	rows, err := x.db.Query(ctx, `SELECT `+simUserCols+` FROM sim_users WHERE id = ANY($1) ORDER BY array_position($1, id)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load sim users: %w", err)
	}
	defer rows.Close()
	var out []xsim.User
	for rows.Next() {
		u, err := scanSimUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan sim user: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

const simPostCols = `id, author_id, text, text_norm, coalesce(in_reply_to_post_id, 0), coalesce(in_reply_to_user_id, 0),
	conversation_id, mentions, topic, format, hook, hour, reach, engagement_rate, created_at, deleted_at`

func scanSimPost(row pgx.Row) (xsim.Post, error) {
	var p xsim.Post
	err := row.Scan(&p.ID, &p.AuthorID, &p.Text, &p.TextNorm, &p.InReplyToPostID, &p.InReplyToUserID,
		&p.ConversationID, &p.Mentions, &p.Features.Topic, &p.Features.Format, &p.Features.Hook, &p.Features.Hour,
		&p.Reach, &p.EngagementRate, &p.CreatedAt, &p.DeletedAt)
	return p, err
}

func (x *XSim) CreatePost(ctx context.Context, np xsim.NewPost) (res xsim.CreateResult, err error) {
	tx, err := x.db.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin create sim post: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// One writer at a time per schema: ids stay increasing and the rules cannot be raced past.
	if _, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('xsim_posts:' || current_schema(), 0))`); err != nil {
		return res, fmt.Errorf("lock sim posts: %w", err)
	}
	p := np.Post
	if !np.DuplicateSince.IsZero() {
		err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sim_posts WHERE author_id = $1 AND text_norm = $2
			AND created_at >= $3 AND deleted_at IS NULL)`, p.AuthorID, p.TextNorm, np.DuplicateSince).Scan(&res.Duplicate)
		if err != nil {
			return res, fmt.Errorf("check duplicate: %w", err)
		}
	}
	count := func(author int64, since time.Time) (int, error) {
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM sim_posts WHERE ($1::bigint = 0 OR author_id = $1::bigint) AND created_at >= $2`, author, since).Scan(&n)
		return n, err
	}
	if res.UserWindowUsed, err = count(p.AuthorID, np.UserWindow.Start); err != nil {
		return res, fmt.Errorf("count posts: %w", err)
	}
	if res.UserDayUsed, err = count(p.AuthorID, np.UserDay.Start); err != nil {
		return res, fmt.Errorf("count posts: %w", err)
	}
	if res.AppDayUsed, err = count(0, np.AppDay.Start); err != nil {
		return res, fmt.Errorf("count posts: %w", err)
	}
	full := func(used int, w xsim.Window) bool { return w.Max > 0 && used >= w.Max }
	res.Limited = full(res.UserWindowUsed, np.UserWindow) || full(res.UserDayUsed, np.UserDay) || full(res.AppDayUsed, np.AppDay)
	if res.Limited || res.Duplicate {
		return res, tx.Commit(ctx)
	}
	ms := max(p.CreatedAt.UnixMilli()-twitterEpochMS, 0)
	err = tx.QueryRow(ctx, `
		INSERT INTO sim_posts (id, author_id, text, text_norm, in_reply_to_post_id, in_reply_to_user_id, conversation_id,
			mentions, topic, format, hook, hour, reach, engagement_rate, created_at)
		SELECT new.id, $2, $3, $4, nullif($5::bigint, 0), nullif($6::bigint, 0), coalesce(nullif($7::bigint, 0), new.id), $8, $9, $10, $11, $12, $13, $14, $15
		FROM (SELECT greatest(($1::bigint << 22) | (nextval('sim_post_seq') & 4194303),
			coalesce((SELECT max(id) FROM sim_posts), 0) + 1) AS id) new
		RETURNING `+simPostCols,
		ms, p.AuthorID, p.Text, p.TextNorm, p.InReplyToPostID, p.InReplyToUserID, p.ConversationID,
		nonNil(p.Mentions), p.Features.Topic, p.Features.Format, p.Features.Hook, p.Features.Hour, p.Reach, p.EngagementRate, p.CreatedAt,
	).Scan(&res.Post.ID, &res.Post.AuthorID, &res.Post.Text, &res.Post.TextNorm, &res.Post.InReplyToPostID,
		&res.Post.InReplyToUserID, &res.Post.ConversationID, &res.Post.Mentions, &res.Post.Features.Topic,
		&res.Post.Features.Format, &res.Post.Features.Hook, &res.Post.Features.Hour, &res.Post.Reach,
		&res.Post.EngagementRate, &res.Post.CreatedAt, &res.Post.DeletedAt)
	if err != nil {
		return res, fmt.Errorf("insert sim post: %w", err)
	}
	res.Created = true
	res.UserWindowUsed++
	res.UserDayUsed++
	res.AppDayUsed++
	if err = tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit sim post: %w", err)
	}
	return res, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (x *XSim) CountPosts(ctx context.Context, authorID int64, since time.Time) (int, error) {
	var n int
	err := x.db.QueryRow(ctx, `SELECT count(*) FROM sim_posts WHERE ($1::bigint = 0 OR author_id = $1::bigint) AND created_at >= $2`,
		authorID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sim posts: %w", err)
	}
	return n, nil
}

func (x *XSim) Post(ctx context.Context, id int64) (xsim.Post, error) {
	p, err := scanSimPost(x.db.QueryRow(ctx, `SELECT `+simPostCols+` FROM sim_posts WHERE id = $1`, id))
	if err != nil {
		return p, simNotFound(err, fmt.Sprintf("sim post %d", id))
	}
	return p, nil
}

func (x *XSim) Posts(ctx context.Context, ids []int64) ([]xsim.Post, error) {
	return x.queryPosts(ctx, `SELECT `+simPostCols+` FROM sim_posts WHERE id = ANY($1) ORDER BY id DESC`, ids)
}

func (x *XSim) queryPosts(ctx context.Context, sql string, args ...any) ([]xsim.Post, error) {
	rows, err := x.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query sim posts: %w", err)
	}
	defer rows.Close()
	var out []xsim.Post
	for rows.Next() {
		p, err := scanSimPost(rows)
		if err != nil {
			return nil, fmt.Errorf("scan sim post: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sim posts: %w", err)
	}
	return out, nil
}

func (x *XSim) DeletePost(ctx context.Context, id int64, at time.Time) error {
	tag, err := x.db.Exec(ctx, `UPDATE sim_posts SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL`, id, at)
	if err != nil {
		return fmt.Errorf("delete sim post %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete sim post %d: %w", id, xsim.ErrNotFound)
	}
	return nil
}

func (x *XSim) QueryPosts(ctx context.Context, q xsim.PostQuery) ([]xsim.Post, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !q.IncludeDeleted {
		where = append(where, "deleted_at IS NULL")
	}
	if q.AuthorID != 0 {
		where = append(where, "author_id = "+arg(q.AuthorID))
	}
	if q.Mentioning != "" || q.MentioningID != 0 {
		where = append(where, fmt.Sprintf("(mentions @> ARRAY[%s]::text[] OR in_reply_to_user_id = %s) AND author_id <> %s",
			arg(strings.ToLower(q.Mentioning)), arg(q.MentioningID), arg(q.MentioningID)))
	}
	for _, term := range q.Contains {
		where = append(where, "strpos(lower(text), "+arg(strings.ToLower(term))+") > 0")
	}
	if q.ExcludeReplies {
		where = append(where, "in_reply_to_post_id IS NULL")
	}
	if !q.Since.IsZero() {
		where = append(where, "created_at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "created_at < "+arg(q.Until))
	}
	if q.SinceID != 0 {
		where = append(where, "id > "+arg(q.SinceID))
	}
	if q.UntilID != 0 {
		where = append(where, "id < "+arg(q.UntilID))
	}
	sql := `SELECT ` + simPostCols + ` FROM sim_posts`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC"
	if q.Limit > 0 {
		sql += " LIMIT " + arg(q.Limit)
	}
	return x.queryPosts(ctx, sql, args...)
}

func (x *XSim) PutRate(ctx context.Context, r xsim.Rate) error {
	_, err := x.db.Exec(ctx, `INSERT INTO sim_rates (topic, format, hook, hour, rate) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (topic, format, hook, hour) DO UPDATE SET rate = EXCLUDED.rate, updated_at = now()`,
		r.Topic, r.Format, r.Hook, r.Hour, r.Rate)
	if err != nil {
		return fmt.Errorf("put sim rate: %w", err)
	}
	return nil
}

func (x *XSim) Rates(ctx context.Context) ([]xsim.Rate, error) {
	rows, err := x.db.Query(ctx, `SELECT topic, format, hook, hour, rate FROM sim_rates ORDER BY topic, format, hook, hour`)
	if err != nil {
		return nil, fmt.Errorf("load sim rates: %w", err)
	}
	defer rows.Close()
	var out []xsim.Rate
	for rows.Next() {
		var r xsim.Rate
		if err := rows.Scan(&r.Topic, &r.Format, &r.Hook, &r.Hour, &r.Rate); err != nil {
			return nil, fmt.Errorf("scan sim rate: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (x *XSim) ClearRates(ctx context.Context) error {
	if _, err := x.db.Exec(ctx, `DELETE FROM sim_rates`); err != nil {
		return fmt.Errorf("clear sim rates: %w", err)
	}
	return nil
}

func (x *XSim) CountRequest(ctx context.Context, bucket string, windowStart time.Time) (int, error) {
	var n int
	err := x.db.QueryRow(ctx, `INSERT INTO sim_request_counts (bucket, window_start, count) VALUES ($1, $2, 1)
		ON CONFLICT (bucket, window_start) DO UPDATE SET count = sim_request_counts.count + 1 RETURNING count`,
		bucket, windowStart).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sim request: %w", err)
	}
	return n, nil
}

func (x *XSim) PeekRequests(ctx context.Context, bucket string, windowStart time.Time) (int, error) {
	var n int
	err := x.db.QueryRow(ctx, `SELECT coalesce((SELECT count FROM sim_request_counts WHERE bucket = $1 AND window_start = $2), 0)`,
		bucket, windowStart).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("peek sim requests: %w", err)
	}
	return n, nil
}

const simFaultCols = `id, endpoint, kind, status, coalesce(remaining, 0), rate, latency_ms, reset_after_ms`

func (x *XSim) AddFault(ctx context.Context, f xsim.Fault) (xsim.Fault, error) {
	var remaining *int
	if f.Count > 0 {
		remaining = &f.Count
	}
	row := x.db.QueryRow(ctx, `INSERT INTO sim_faults (endpoint, kind, status, remaining, rate, latency_ms, reset_after_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+simFaultCols,
		f.Endpoint, string(f.Kind), f.Status, remaining, f.Rate, time.Duration(f.Latency).Milliseconds(), time.Duration(f.ResetAfter).Milliseconds())
	out, err := scanSimFault(row)
	if err != nil {
		return out, fmt.Errorf("add sim fault: %w", err)
	}
	return out, nil
}

func scanSimFault(row pgx.Row) (xsim.Fault, error) {
	var f xsim.Fault
	var kind string
	var latencyMS, resetMS int64
	err := row.Scan(&f.ID, &f.Endpoint, &kind, &f.Status, &f.Count, &f.Rate, &latencyMS, &resetMS)
	f.Kind = xsim.FaultKind(kind)
	f.Latency = xsim.Duration(time.Duration(latencyMS) * time.Millisecond)
	f.ResetAfter = xsim.Duration(time.Duration(resetMS) * time.Millisecond)
	return f, err
}

// Faults lists the faults still able to fire, oldest first.
func (x *XSim) Faults(ctx context.Context) ([]xsim.Fault, error) {
	rows, err := x.db.Query(ctx, `SELECT `+simFaultCols+` FROM sim_faults WHERE remaining IS NULL OR remaining > 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load sim faults: %w", err)
	}
	defer rows.Close()
	var out []xsim.Fault
	for rows.Next() {
		f, err := scanSimFault(rows)
		if err != nil {
			return nil, fmt.Errorf("scan sim fault: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (x *XSim) ClearFaults(ctx context.Context) error {
	if _, err := x.db.Exec(ctx, `DELETE FROM sim_faults`); err != nil {
		return fmt.Errorf("clear sim faults: %w", err)
	}
	return nil
}

func (x *XSim) TakeFault(ctx context.Context, id int64) (bool, error) {
	tag, err := x.db.Exec(ctx, `UPDATE sim_faults SET remaining = remaining - 1 WHERE id = $1 AND remaining > 0`, id)
	if err != nil {
		return false, fmt.Errorf("take sim fault %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (x *XSim) NextRequestSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := x.db.QueryRow(ctx, `SELECT nextval('sim_request_seq')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("next sim request number: %w", err)
	}
	return n, nil
}
