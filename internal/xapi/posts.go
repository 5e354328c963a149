package xapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Metrics are a post's counts. Impressions come from non-public, else organic, else public metrics.
type Metrics struct {
	Impressions int64
	Likes       int64
	Reposts     int64
	Replies     int64
	Quotes      int64
	Bookmarks   int64
	// ImpressionsFrom says which metrics object gave Impressions ("non_public", "organic", "public"; empty
	// when none did).
	ImpressionsFrom string
}

// Post is one post as X returns it.
type Post struct {
	ID              string
	Text            string
	AuthorID        string
	CreatedAt       time.Time
	ConversationID  string
	InReplyTo       string // the post this one replies to, from referenced posts
	InReplyToUserID string
	EditHistoryIDs  []string
	Metrics         Metrics
	// DisplayStart is where the displayed text starts, in code points (display_text_range[0]): X puts a
	// reply's "@handle " mentions before it. 0 when X did not say.
	DisplayStart int
	// Links are the t.co links X made of ours, with what they stand for.
	Links []Link
}

// Link is one entities.urls entry: the t.co link in the text and the URL it expands to.
type Link struct {
	URL         string
	ExpandedURL string
}

// User is an X account.
type User struct {
	ID        string
	Name      string
	Username  string
	CreatedAt time.Time
	Verified  bool
	Followers int64
	Following int64
	Posts     int64
}

// Mention is a post with its author (for reach: Author.Followers).
type Mention struct {
	Post
	Author User
}

// TimelineQuery narrows a timeline, mentions or search read.
type TimelineQuery struct {
	StartTime  time.Time // zero: not sent
	SinceID    string
	MaxResults int // per page; 0: X's default. Timelines and mentions allow 5-100, search 10-100
	MaxPages   int // pages to follow through next_token; default 1
}

// Field lists, in the names of X's spec 2.167.
const (
	postFieldsMetrics = "conversation_id,created_at,non_public_metrics,organic_metrics,public_metrics"
	postFieldsPublic  = "conversation_id,created_at,public_metrics"
	// postFieldsOwn are what reconciliation compares our own posts on (SameText).
	postFieldsOwn = "conversation_id,created_at,display_text_range,entities"
	userFields    = "created_at,public_metrics,verified"
)

// wire types decode both the 2.167 names and the older ones.
type wireMetrics struct {
	Impressions *int64 `json:"impression_count"`
	Likes       *int64 `json:"like_count"`
	Reposts     *int64 `json:"repost_count"`
	Retweets    *int64 `json:"retweet_count"`
	Replies     *int64 `json:"reply_count"`
	Quotes      *int64 `json:"quote_count"`
	Bookmarks   *int64 `json:"bookmark_count"`
}

func (m *wireMetrics) reposts() *int64 {
	if m == nil {
		return nil
	}
	if m.Reposts != nil {
		return m.Reposts
	}
	return m.Retweets
}

type wireRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type wirePost struct {
	ID                  string       `json:"id"`
	Text                string       `json:"text"`
	AuthorID            string       `json:"author_id"`
	CreatedAt           string       `json:"created_at"`
	ConversationID      string       `json:"conversation_id"`
	InReplyToUserID     string       `json:"in_reply_to_user_id"`
	ReferencedPosts     []wireRef    `json:"referenced_posts"`
	ReferencedTweets    []wireRef    `json:"referenced_tweets"`
	EditHistoryPostIDs  []string     `json:"edit_history_post_ids"`
	EditHistoryTweetIDs []string     `json:"edit_history_tweet_ids"`
	PublicMetrics       *wireMetrics `json:"public_metrics"`
	NonPublicMetrics    *wireMetrics `json:"non_public_metrics"`
	OrganicMetrics      *wireMetrics `json:"organic_metrics"`
	DisplayTextRange    []int        `json:"display_text_range"`
	Entities            *struct {
		URLs []struct {
			URL         string `json:"url"`
			ExpandedURL string `json:"expanded_url"`
		} `json:"urls"`
	} `json:"entities"`
}

type wireUser struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Username      string `json:"username"`
	CreatedAt     string `json:"created_at"`
	Verified      bool   `json:"verified"`
	PublicMetrics *struct {
		Followers  int64  `json:"followers_count"`
		Following  int64  `json:"following_count"`
		PostCount  *int64 `json:"post_count"`
		TweetCount *int64 `json:"tweet_count"`
	} `json:"public_metrics"`
}

type wireProblem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	ResourceID string `json:"resource_id"`
	Value      string `json:"value"`
	Parameter  string `json:"parameter"`
	Section    string `json:"section"`
}

type wireIncludes struct {
	Users []wireUser `json:"users"`
}

type wireMeta struct {
	NextToken   string `json:"next_token"`
	ResultCount int    `json:"result_count"`
}

type listResponse struct {
	Data     []wirePost    `json:"data"`
	Errors   []wireProblem `json:"errors"`
	Includes wireIncludes  `json:"includes"`
	Meta     wireMeta      `json:"meta"`
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func first(ms ...*int64) int64 {
	for _, m := range ms {
		if m != nil {
			return *m
		}
	}
	return 0
}

func (w wirePost) post() Post {
	p := Post{ID: w.ID, Text: w.Text, AuthorID: w.AuthorID, CreatedAt: parseTime(w.CreatedAt),
		ConversationID: w.ConversationID, InReplyToUserID: w.InReplyToUserID, EditHistoryIDs: w.EditHistoryPostIDs}
	if p.EditHistoryIDs == nil {
		p.EditHistoryIDs = w.EditHistoryTweetIDs
	}
	if len(w.DisplayTextRange) == 2 && w.DisplayTextRange[0] > 0 {
		p.DisplayStart = w.DisplayTextRange[0]
	}
	if w.Entities != nil {
		for _, u := range w.Entities.URLs {
			p.Links = append(p.Links, Link{URL: u.URL, ExpandedURL: u.ExpandedURL})
		}
	}
	for _, r := range append(w.ReferencedPosts, w.ReferencedTweets...) {
		if r.Type == "replied_to" {
			p.InReplyTo = r.ID
			break
		}
	}
	pub, org, np := w.PublicMetrics, w.OrganicMetrics, w.NonPublicMetrics
	if pub == nil {
		pub = &wireMetrics{}
	}
	if org == nil {
		org = &wireMetrics{}
	}
	if np == nil {
		np = &wireMetrics{}
	}
	for _, src := range []struct {
		name string
		m    *wireMetrics
	}{{"non_public", np}, {"organic", org}, {"public", pub}} {
		if src.m.Impressions != nil {
			p.Metrics.Impressions, p.Metrics.ImpressionsFrom = *src.m.Impressions, src.name
			break
		}
	}
	p.Metrics.Likes = first(pub.Likes, org.Likes)
	p.Metrics.Reposts = first(pub.reposts(), org.reposts())
	p.Metrics.Replies = first(pub.Replies, org.Replies)
	p.Metrics.Quotes = first(pub.Quotes, org.Quotes)
	p.Metrics.Bookmarks = first(pub.Bookmarks, org.Bookmarks)
	return p
}

func (w wireUser) user() User {
	u := User{ID: w.ID, Name: w.Name, Username: w.Username, CreatedAt: parseTime(w.CreatedAt), Verified: w.Verified}
	if m := w.PublicMetrics; m != nil {
		u.Followers, u.Following, u.Posts = m.Followers, m.Following, first(m.PostCount, m.TweetCount)
	}
	return u
}

func (w wireProblem) lookupError() LookupError {
	id := w.ResourceID
	if id == "" {
		id = w.Value
	}
	return LookupError{ID: id, Type: w.Type, Title: w.Title, Detail: w.Detail, kind: problemKind(w.Type)}
}

// isID reports whether s is an X id (1-19 digits).
func isID(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CreatePost posts text, as a reply to replyTo when that is not empty. Errors: *RateLimited,
// ErrDuplicate, ErrReplyNotAllowed, ErrUnauthorized, ErrForbidden, *Ambiguous (the post may exist),
// ErrNotSent (safe to retry), *APIError.
func (c *Client) CreatePost(ctx context.Context, text, replyTo string) (*Post, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("xapi: CreatePost: empty text")
	}
	type reply struct {
		InReplyToTweetID string `json:"in_reply_to_tweet_id"`
	}
	body := struct {
		Text  string `json:"text"`
		Reply *reply `json:"reply,omitempty"`
	}{Text: text}
	if replyTo != "" {
		if !isID(replyTo) {
			return nil, fmt.Errorf("xapi: CreatePost: reply target %q is not a post id", replyTo)
		}
		body.Reply = &reply{InReplyToTweetID: replyTo}
	}
	var out struct {
		Data struct {
			ID                  string   `json:"id"`
			Text                string   `json:"text"`
			EditHistoryPostIDs  []string `json:"edit_history_post_ids"`
			EditHistoryTweetIDs []string `json:"edit_history_tweet_ids"`
		} `json:"data"`
	}
	k := call{method: http.MethodPost, path: "/2/tweets", body: body, auth: authUser, create: true}
	if err := c.do(ctx, k, &out); err != nil {
		return nil, err
	}
	if !isID(out.Data.ID) {
		return nil, &Ambiguous{Op: k.op(), Status: http.StatusCreated, Err: errors.New("response has no post id")}
	}
	p := &Post{ID: out.Data.ID, Text: out.Data.Text, InReplyTo: replyTo, EditHistoryIDs: out.Data.EditHistoryPostIDs}
	if p.EditHistoryIDs == nil {
		p.EditHistoryIDs = out.Data.EditHistoryTweetIDs
	}
	return p, nil
}

// DeletePost deletes one of the account's posts.
func (c *Client) DeletePost(ctx context.Context, id string) error {
	if !isID(id) {
		return fmt.Errorf("xapi: DeletePost: %q is not a post id", id)
	}
	var out struct {
		Data struct {
			Deleted bool `json:"deleted"`
		} `json:"data"`
		Errors []wireProblem `json:"errors"`
	}
	k := call{method: http.MethodDelete, path: "/2/tweets/" + id, auth: authUser}
	if err := c.do(ctx, k, &out); err != nil {
		return err
	}
	if !out.Data.Deleted {
		if len(out.Errors) > 0 {
			le := out.Errors[0].lookupError()
			return &le
		}
		return fmt.Errorf("xapi: %s: X did not delete the post", k.op())
	}
	return nil
}

// LookupPosts reads up to any number of posts (100 per request) with their metrics. Ids X could not
// return come back as LookupErrors (errors.Is ErrNotFound / ErrNotAuthorized), not as an error.
func (c *Client) LookupPosts(ctx context.Context, ids []string) ([]Post, []LookupError, error) {
	var posts []Post
	var missing []LookupError
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		for _, id := range chunk {
			if !isID(id) {
				return nil, nil, fmt.Errorf("xapi: LookupPosts: %q is not a post id", id)
			}
		}
		q := url.Values{"ids": {strings.Join(chunk, ",")}, "post.fields": {postFieldsMetrics}, "expansions": {"author_id"}}
		var out listResponse
		if err := c.do(ctx, call{method: http.MethodGet, path: "/2/tweets", query: q, auth: authUser}, &out); err != nil {
			return nil, nil, err
		}
		for _, w := range out.Data {
			posts = append(posts, w.post())
		}
		missing = append(missing, resourceErrors(out.Errors)...)
	}
	return posts, missing, nil
}

// resourceErrors keeps the per-resource problems (a field-level problem does not make a post missing).
func resourceErrors(ps []wireProblem) []LookupError {
	var out []LookupError
	for _, p := range ps {
		le := p.lookupError()
		if le.kind != nil {
			out = append(out, le)
		}
	}
	return out
}

// GetPost reads one post with its metrics. A post X cannot return is a *LookupError (errors.Is
// ErrNotFound / ErrNotAuthorized).
func (c *Client) GetPost(ctx context.Context, id string) (*Post, error) {
	if !isID(id) {
		return nil, fmt.Errorf("xapi: GetPost: %q is not a post id", id)
	}
	q := url.Values{"post.fields": {postFieldsMetrics}, "expansions": {"author_id"}}
	var out struct {
		Data   *wirePost     `json:"data"`
		Errors []wireProblem `json:"errors"`
	}
	k := call{method: http.MethodGet, path: "/2/tweets/" + id, query: q, auth: authUser}
	if err := c.do(ctx, k, &out); err != nil {
		return nil, err
	}
	if out.Data == nil {
		if les := resourceErrors(out.Errors); len(les) > 0 {
			return nil, &les[0]
		}
		return nil, fmt.Errorf("xapi: %s: response has no post", k.op())
	}
	p := out.Data.post()
	return &p, nil
}

// Me returns the authenticating user.
func (c *Client) Me(ctx context.Context) (*User, error) {
	var out struct {
		Data *wireUser `json:"data"`
	}
	k := call{method: http.MethodGet, path: "/2/users/me", query: url.Values{"user.fields": {userFields}}, auth: authUser}
	if err := c.do(ctx, k, &out); err != nil {
		return nil, err
	}
	if out.Data == nil || !isID(out.Data.ID) {
		return nil, fmt.Errorf("xapi: %s: response has no user", k.op())
	}
	u := out.Data.user()
	return &u, nil
}

// UserPosts reads a user's timeline, newest first (for reconciling our own posts), with what SameText
// compares. A page that carries errors[] about its posts (a 200 with errors and no data, or a partial
// page) is an *Incomplete: it does not say the posts are not there.
func (c *Client) UserPosts(ctx context.Context, userID string, q TimelineQuery) ([]Post, error) {
	ms, problems, err := c.timeline(ctx, "/2/users/%s/tweets", userID, q, 5, postFieldsOwn, "referenced_posts", "", "pagination_token")
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		if p.Section != "includes" && !strings.Contains(p.Parameter, ".") && p.Parameter != "referenced_posts" {
			return nil, &Incomplete{Op: "GET " + fmt.Sprintf("/2/users/%s/tweets", userID), Type: p.Type, Title: p.Title, Detail: p.Detail}
		}
	}
	posts := make([]Post, len(ms))
	for i, m := range ms {
		posts[i] = m.Post
	}
	return posts, nil
}

// Mentions reads posts that mention userID, with their authors and the authors' follower counts.
func (c *Client) Mentions(ctx context.Context, userID string, q TimelineQuery) ([]Mention, error) {
	ms, _, err := c.timeline(ctx, "/2/users/%s/mentions", userID, q, 5, postFieldsPublic, "author_id,referenced_posts", userFields, "pagination_token")
	return ms, err
}

// SearchRecent searches the last seven days (draft candidates only: X forbids automated replies chosen
// by search).
func (c *Client) SearchRecent(ctx context.Context, query string, q TimelineQuery) ([]Mention, error) {
	if strings.TrimSpace(query) == "" || len(query) > 4096 {
		return nil, errors.New("xapi: SearchRecent: query must have 1-4096 characters")
	}
	ms, _, err := c.timeline(ctx, "/2/tweets/search/recent", query, q, 10, postFieldsPublic, "author_id,referenced_posts", userFields, "next_token")
	return ms, err
}

// timeline reads pages of posts and the problems the pages carried. For search, pathFmt has no %s and arg
// is the query.
func (c *Client) timeline(ctx context.Context, pathFmt, arg string, tq TimelineQuery, minResults int,
	postFields, expansions, userFieldList, tokenParam string) ([]Mention, []wireProblem, error) {
	q := url.Values{"post.fields": {postFields}}
	path := pathFmt
	if strings.Contains(pathFmt, "%s") {
		if !isID(arg) {
			return nil, nil, fmt.Errorf("xapi: %s: %q is not a user id", pathFmt, arg)
		}
		path = fmt.Sprintf(pathFmt, arg)
	} else {
		q.Set("query", arg)
	}
	if expansions != "" {
		q.Set("expansions", expansions)
	}
	if userFieldList != "" {
		q.Set("user.fields", userFieldList)
	}
	if tq.MaxResults != 0 {
		if tq.MaxResults < minResults || tq.MaxResults > 100 {
			return nil, nil, fmt.Errorf("xapi: %s: MaxResults %d: allowed %d-100", path, tq.MaxResults, minResults)
		}
		q.Set("max_results", strconv.Itoa(tq.MaxResults))
	}
	if !tq.StartTime.IsZero() {
		q.Set("start_time", tq.StartTime.UTC().Format(time.RFC3339))
	}
	if tq.SinceID != "" {
		if !isID(tq.SinceID) {
			return nil, nil, fmt.Errorf("xapi: %s: SinceID %q is not a post id", path, tq.SinceID)
		}
		q.Set("since_id", tq.SinceID)
	}
	var out []Mention
	var problems []wireProblem
	for page := 0; page < max(tq.MaxPages, 1); page++ {
		var resp listResponse
		if err := c.do(ctx, call{method: http.MethodGet, path: path, query: q, auth: authRead}, &resp); err != nil {
			return nil, nil, err
		}
		problems = append(problems, resp.Errors...)
		users := make(map[string]User, len(resp.Includes.Users))
		for _, u := range resp.Includes.Users {
			users[u.ID] = u.user()
		}
		for _, w := range resp.Data {
			p := w.post()
			out = append(out, Mention{Post: p, Author: users[p.AuthorID]})
		}
		if resp.Meta.NextToken == "" {
			break
		}
		q.Set(tokenParam, resp.Meta.NextToken)
	}
	return out, problems, nil
}
