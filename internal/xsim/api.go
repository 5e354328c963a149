package xsim

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// call is one API request as the handlers see it.
type call struct {
	r       *http.Request
	auth    authKind
	me      Account // the user the request acts as (the configured account unless signed by another)
	now     time.Time
	state   State
	handles map[int64]string // reply authors' handles looked up for this request
}

// endpoint describes one operation: its name, who may call it, its query parameters.
type endpoint struct {
	name     string
	userOnly bool            // OAuth 1.0a user context required
	params   map[string]bool // allowed query parameters
	limit    int             // requests per 15 minutes; 0: the handler sets the headers (POST /2/tweets)
}

var fieldParams = []string{"post.fields", "tweet.fields", "expansions", "user.fields", "media.fields", "poll.fields", "place.fields"}

func params(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range append(names, fieldParams...) {
		m[n] = true
	}
	return m
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	listParams := []string{"max_results", "pagination_token", "start_time", "end_time", "since_id", "until_id"}
	s.mux.HandleFunc("POST /2/tweets", s.serve(endpoint{name: EndpointCreatePost, userOnly: true, params: map[string]bool{}}, s.createPost))
	s.mux.HandleFunc("DELETE /2/tweets/{id}", s.serve(endpoint{name: EndpointDeletePost, userOnly: true, params: map[string]bool{}, limit: s.cfg.DeletesPer15Min}, s.deletePost))
	s.mux.HandleFunc("GET /2/tweets", s.serve(endpoint{name: EndpointGetPosts, params: params("ids"), limit: s.cfg.ReadsPer15Min}, s.getPosts))
	s.mux.HandleFunc("GET /2/tweets/{id}", s.serve(endpoint{name: EndpointGetPost, params: params(), limit: s.cfg.ReadsPer15Min}, s.getPost))
	s.mux.HandleFunc("GET /2/users/me", s.serve(endpoint{name: EndpointUsersMe, userOnly: true, params: params(), limit: s.cfg.ReadsPer15Min}, s.usersMe))
	s.mux.HandleFunc("GET /2/users/{id}/tweets", s.serve(endpoint{name: EndpointUserPosts, params: params(append(listParams, "exclude")...), limit: s.cfg.ReadsPer15Min}, s.userPosts))
	s.mux.HandleFunc("GET /2/users/{id}/mentions", s.serve(endpoint{name: EndpointMentions, params: params(listParams...), limit: s.cfg.ReadsPer15Min}, s.mentions))
	s.mux.HandleFunc("GET /2/tweets/search/recent", s.serve(endpoint{name: EndpointSearchRecent, params: params(append(listParams, "query", "next_token", "sort_order")...), limit: s.cfg.ReadsPer15Min}, s.searchRecent))
	if *s.cfg.ControlEndpoints {
		s.controlRoutes()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.write(w, rateHeaders{}, reply{status: 404, body: map[string]any{
			"errors": []any{map[string]any{"message": "The requested resource could not be found.", "code": 34}},
		}})
	})
}

type handlerFunc func(ctx context.Context, c *call) (reply, *rateHeaders, error)

// serve runs the pipeline X runs: authenticate, check parameters, apply scripted faults, count the
// request against its window, then the operation.
func (s *Server) serve(ep endpoint, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st, err := s.store.State(ctx)
		if err != nil {
			s.internalError(w, ep.name, err)
			return
		}
		auth, me := s.authenticate(r)
		c := &call{r: r, auth: auth, me: me, now: s.cfg.Clock.Now().Add(st.ClockOffset), state: st}
		rl, err := s.requestWindow(ctx, ep, c, false)
		if err != nil {
			s.internalError(w, ep.name, err)
			return
		}
		if c.auth == authNone {
			s.write(w, rl, unauthorized())
			return
		}
		if ep.userOnly && c.auth != authUser {
			s.write(w, rl, unsupportedAuthentication())
			return
		}
		for k := range r.URL.Query() {
			if !ep.params[k] {
				s.write(w, rl, invalidRequest(k, k, fmt.Sprintf("The query parameters [%s] is not one of the allowed parameters", k)))
				return
			}
		}
		fired, err := s.pickFaults(ctx, ep.name, st.Seed)
		if err != nil {
			s.internalError(w, ep.name, err)
			return
		}
		if fired.latency > 0 {
			s.wait(ctx, fired.latency)
		}
		afterWork := false
		var mangle *Fault // answer with a broken body once the work is done
		if f := fired.fail; f != nil {
			s.log.Info("[XSIM] fault", zap.String("endpoint", ep.name), zap.String("kind", string(f.Kind)))
			switch f.Kind {
			case FaultServerError:
				status := f.Status
				if status == 0 {
					status = 503
				}
				s.write(w, rl, serverError(status))
				return
			case FaultRateLimit:
				after := time.Duration(f.ResetAfter)
				if after == 0 {
					after = 15 * time.Minute
				}
				rl.remaining, rl.reset = 0, c.now.Add(after)
				if rl.limit == 0 {
					rl.limit = s.cfg.PostsPer15Min
				}
				s.write(w, rl, tooManyRequests())
				return
			case FaultUnauthorized:
				s.write(w, rl, unauthorized())
				return
			case FaultForbidden:
				s.write(w, rl, forbiddenPermissions())
				return
			case FaultReset:
				s.resetConnection(w)
				return
			case FaultTimeoutBefore:
				s.hang(ctx)
				s.write(w, rl, serverError(503))
				return
			case FaultTimeoutAfter:
				afterWork = true
			case FaultErrors200:
				s.write(w, rl, s.errors200(c))
				return
			case FaultMalformedJSON:
				mangle = f
			case FaultHTML:
				if f.Status == 0 || f.Status >= 500 {
					s.writeMalformed(w, rl, reply{status: 502}, f)
					return
				}
				mangle = f
			default:
				s.write(w, rl, forbiddenFault(f.Kind))
				return
			}
		}
		if ep.limit > 0 {
			if rl, err = s.requestWindow(ctx, ep, c, true); err != nil {
				s.internalError(w, ep.name, err)
				return
			}
			if rl.remaining < 0 {
				s.write(w, rl, tooManyRequests())
				return
			}
		}
		// A write, once X has it, is done whether or not the client is still waiting (as on X): a client
		// that gives up mid-request does not undo its post.
		work := ctx
		if r.Method != http.MethodGet {
			work = context.WithoutCancel(ctx)
		}
		rp, own, err := h(work, c)
		if err != nil {
			s.internalError(w, ep.name, err)
			return
		}
		if own != nil {
			rl = *own
		}
		if mangle != nil {
			s.writeMalformed(w, rl, rp, mangle)
			return
		}
		if afterWork {
			// The work is done (a post exists); the client only ever sees a timeout.
			s.hang(ctx)
			s.write(w, rl, serverError(503))
			return
		}
		s.write(w, rl, rp)
	}
}

// requestWindow computes the endpoint's rate-limit headers, counting this request when count is set.
// POST /2/tweets counts posts instead (postWindows).
func (s *Server) requestWindow(ctx context.Context, ep endpoint, c *call, count bool) (rateHeaders, error) {
	if ep.limit == 0 {
		return s.postWindows(ctx, c.me.UserID, c.now, nil)
	}
	start := windowStart(c.now, 15*time.Minute)
	bucket := ep.name // X counts reads per user token: one bucket per user beside the configured one's
	if c.auth == authUser && c.me.UserID != s.cfg.UserID {
		bucket += ":" + idStr(c.me.UserID)
	}
	var n int
	var err error
	if count {
		n, err = s.store.CountRequest(ctx, bucket, start)
	} else {
		n, err = s.store.PeekRequests(ctx, bucket, start)
	}
	if err != nil {
		return rateHeaders{}, fmt.Errorf("count requests: %w", err)
	}
	return rateHeaders{limit: ep.limit, remaining: ep.limit - n, reset: start.Add(15 * time.Minute)}, nil
}

// postWindows are POST /2/tweets's headers; res carries counts that CreatePost already took.
func (s *Server) postWindows(ctx context.Context, userID int64, now time.Time, res *CreateResult) (rateHeaders, error) {
	w15 := windowStart(now, 15*time.Minute)
	day := windowStart(now, 24*time.Hour)
	var used15, usedDay, usedApp int
	if res != nil {
		used15, usedDay, usedApp = res.UserWindowUsed, res.UserDayUsed, res.AppDayUsed
	} else {
		var err error
		if used15, err = s.store.CountPosts(ctx, userID, w15); err != nil {
			return rateHeaders{}, fmt.Errorf("count posts: %w", err)
		}
		if usedDay, err = s.store.CountPosts(ctx, userID, day); err != nil {
			return rateHeaders{}, fmt.Errorf("count posts: %w", err)
		}
		if usedApp, err = s.store.CountPosts(ctx, 0, day); err != nil {
			return rateHeaders{}, fmt.Errorf("count posts: %w", err)
		}
	}
	return rateHeaders{
		limit: s.cfg.PostsPer15Min, remaining: s.cfg.PostsPer15Min - used15, reset: w15.Add(15 * time.Minute),
		user24: &window24{limit: s.cfg.PostsPerDay, remaining: s.cfg.PostsPerDay - usedDay, reset: day.Add(24 * time.Hour)},
		app24:  &window24{limit: s.cfg.AppPostsPerDay, remaining: s.cfg.AppPostsPerDay - usedApp, reset: day.Add(24 * time.Hour)},
	}, nil
}

func (s *Server) internalError(w http.ResponseWriter, endpoint string, err error) {
	s.log.Error("[XSIM] internal error", zap.String("endpoint", endpoint), zap.Error(err))
	s.write(w, rateHeaders{}, serverError(500))
}

// wait sleeps d of wall time, or until the client goes away.
func (s *Server) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// hang holds a request until the client gives up (or HangFor passes).
func (s *Server) hang(ctx context.Context) { s.wait(ctx, s.cfg.HangFor) }

// resetConnection closes the client's connection with a TCP reset and no answer.
func (s *Server) resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func parseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

var pageEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

func pageToken(id int64) string {
	return strings.ToLower(pageEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10))))
}

func parsePageToken(tok string) (int64, bool) {
	b, err := pageEncoding.DecodeString(strings.ToUpper(tok))
	if err != nil {
		return 0, false
	}
	return parseID(string(b))
}

// listQuery reads the timeline parameters shared by user posts, mentions and search.
func listQuery(c *call, minResults, maxResults, defResults int) (PostQuery, *reply) {
	q := c.r.URL.Query()
	pq := PostQuery{Limit: defResults}
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minResults || n > maxResults {
			rp := invalidRequest("max_results", v, fmt.Sprintf("The `max_results` query parameter value [%s] is not between %d and %d", v, minResults, maxResults))
			return pq, &rp
		}
		pq.Limit = n
	}
	for _, name := range []string{"start_time", "end_time"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			rp := invalidRequest(name, v, fmt.Sprintf("Invalid '%s':'%s'. '%s' must be a valid RFC 3339 date-time", name, v, name))
			return pq, &rp
		}
		if name == "start_time" {
			pq.Since = t
		} else {
			pq.Until = t
		}
	}
	for _, name := range []string{"since_id", "until_id"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		id, ok := parseID(v)
		if !ok {
			rp := invalidRequest(name, v, fmt.Sprintf("The `%s` query parameter value [%s] is not a valid post id", name, v))
			return pq, &rp
		}
		if name == "since_id" {
			pq.SinceID = id
		} else {
			pq.UntilID = id
		}
	}
	for _, name := range []string{"pagination_token", "next_token"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		id, ok := parsePageToken(v)
		if !ok {
			rp := invalidRequest(name, v, fmt.Sprintf("The `%s` query parameter value [%s] is not a valid token", name, v))
			return pq, &rp
		}
		if pq.UntilID == 0 || id < pq.UntilID {
			pq.UntilID = id
		}
	}
	return pq, nil
}

// fields are a request's parsed field and expansion parameters.
type fields struct {
	post, user, expansions fieldSet
}

func parseFields(c *call) (fields, *reply) {
	q := c.r.URL.Query()
	var f fields
	var rp *reply
	if f.post, rp = parseList(q.Get("post.fields"), "post.fields", postFields); rp != nil {
		return f, rp
	}
	old, rp := parseList(q.Get("tweet.fields"), "tweet.fields", postFields)
	if rp != nil {
		return f, rp
	}
	for k := range old {
		f.post[k] = true
	}
	if f.user, rp = parseList(q.Get("user.fields"), "user.fields", userFields); rp != nil {
		return f, rp
	}
	if f.expansions, rp = parseList(q.Get("expansions"), "expansions", expansionNames); rp != nil {
		return f, rp
	}
	return f, nil
}

// ownerOnly are the post fields only the author sees, with user context.
var ownerOnly = []string{"non_public_metrics", "organic_metrics", "promoted_metrics"}

func (s *Server) canSeeOwnerFields(c *call, p Post) bool {
	return c.auth == authUser && p.AuthorID == c.me.UserID
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// renderPost is a post as 2.167's Post schema names it, with the requested fields.
// Expansions also put their key field on the post, as X does.
func (s *Server) renderPost(c *call, p Post, f fieldSet, ex fieldSet) map[string]any {
	text, displayStart, links := xText(p, s.replyHandle(c, p))
	out := map[string]any{
		"id":                    idStr(p.ID),
		"text":                  escapeEntities.Replace(text),
		"edit_history_post_ids": []string{idStr(p.ID)},
	}
	if f["display_text_range"] {
		out["display_text_range"] = []int{displayStart, utf8.RuneCountInString(text)}
	}
	if f["entities"] && len(links) > 0 {
		out["entities"] = map[string]any{"urls": links}
	}
	if f["author_id"] || ex["author_id"] {
		out["author_id"] = idStr(p.AuthorID)
	}
	if f["conversation_id"] {
		out["conversation_id"] = idStr(p.ConversationID)
	}
	if f["created_at"] {
		out["created_at"] = p.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if (f["in_reply_to_user_id"] || ex["in_reply_to_user_id"]) && p.InReplyToUserID != 0 {
		out["in_reply_to_user_id"] = idStr(p.InReplyToUserID)
	}
	if (f["referenced_posts"] || ex["referenced_posts"]) && p.InReplyToPostID != 0 {
		out["referenced_posts"] = []any{map[string]any{"type": "replied_to", "id": idStr(p.InReplyToPostID)}}
	}
	if f["lang"] {
		out["lang"] = "en"
	}
	if f["possibly_sensitive"] {
		out["possibly_sensitive"] = false
	}
	if f["reply_settings"] {
		out["reply_settings"] = "everyone"
	}
	m := metricsAt(p, c.now)
	if f["public_metrics"] {
		out["public_metrics"] = map[string]any{
			"repost_count": m.Reposts, "reply_count": m.Replies, "like_count": m.Likes,
			"quote_count": m.Quotes, "bookmark_count": m.Bookmarks, "impression_count": m.Impressions,
		}
	}
	if s.canSeeOwnerFields(c, p) {
		if f["non_public_metrics"] {
			out["non_public_metrics"] = map[string]any{
				"impression_count": m.Impressions, "url_link_clicks": m.URLLinkClicks,
				"user_profile_clicks": m.ProfileClicks, "engagements": m.Engagements() + m.URLLinkClicks + m.ProfileClicks,
			}
		}
		if f["organic_metrics"] {
			out["organic_metrics"] = map[string]any{
				"impression_count": m.Impressions, "like_count": m.Likes, "reply_count": m.Replies,
				"retweet_count": m.Reposts, "url_link_clicks": m.URLLinkClicks, "user_profile_clicks": m.ProfileClicks,
			}
		}
	}
	return out
}

// replyHandle is the handle X puts in front of a reply: the replied-to author's, unless that is the
// author (a thread). Handles are looked up once per request.
func (s *Server) replyHandle(c *call, p Post) string {
	if p.InReplyToUserID == 0 || p.InReplyToUserID == p.AuthorID {
		return ""
	}
	if h, ok := c.handles[p.InReplyToUserID]; ok {
		return h
	}
	u, err := s.store.User(c.r.Context(), p.InReplyToUserID)
	if err != nil {
		s.log.Warn("[XSIM] reply author lookup", zap.Int64("user_id", p.InReplyToUserID), zap.Error(err))
		return ""
	}
	if c.handles == nil {
		c.handles = map[int64]string{}
	}
	c.handles[p.InReplyToUserID] = u.Username
	return u.Username
}

// renderUser is a user with the requested fields.
func (s *Server) renderUser(ctx context.Context, u User, f fieldSet) (map[string]any, error) {
	out := map[string]any{"id": idStr(u.ID), "name": u.Name, "username": u.Username}
	if f["created_at"] {
		out["created_at"] = u.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if f["description"] {
		out["description"] = u.Description
	}
	if f["protected"] {
		out["protected"] = false
	}
	if f["verified"] {
		out["verified"] = false
	}
	if f["public_metrics"] {
		n, err := s.store.CountPosts(ctx, u.ID, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("count posts of %d: %w", u.ID, err)
		}
		out["public_metrics"] = map[string]any{
			"followers_count": u.FollowersCount, "following_count": u.FollowingCount,
			"post_count": n, "listed_count": u.ListedCount, "like_count": 0,
		}
	}
	return out, nil
}

// includes builds the expansions object for posts.
func (s *Server) includes(ctx context.Context, c *call, posts []Post, f fields) (map[string]any, error) {
	userIDs := []int64{}
	seen := map[int64]bool{}
	addUser := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			userIDs = append(userIDs, id)
		}
	}
	var refIDs []int64
	for _, p := range posts {
		if f.expansions["author_id"] {
			addUser(p.AuthorID)
		}
		if f.expansions["in_reply_to_user_id"] {
			addUser(p.InReplyToUserID)
		}
		if f.expansions["referenced_posts"] && p.InReplyToPostID != 0 {
			refIDs = append(refIDs, p.InReplyToPostID)
		}
	}
	inc := map[string]any{}
	if len(refIDs) > 0 {
		refs, err := s.store.Posts(ctx, refIDs)
		if err != nil {
			return nil, fmt.Errorf("load referenced posts: %w", err)
		}
		var out []any
		for _, p := range refs {
			if !p.Deleted() {
				out = append(out, s.renderPost(c, p, f.post, f.expansions))
			}
		}
		if len(out) > 0 {
			inc["posts"] = out
		}
	}
	if len(userIDs) > 0 {
		users, err := s.store.Users(ctx, userIDs)
		if err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		var out []any
		for _, u := range users {
			ru, err := s.renderUser(ctx, u, f.user)
			if err != nil {
				return nil, err
			}
			out = append(out, ru)
		}
		inc["users"] = out
	}
	if len(inc) == 0 {
		return nil, nil
	}
	return inc, nil
}

func (s *Server) getPost(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	raw := c.r.PathValue("id")
	id, ok := parseID(raw)
	if !ok {
		return invalidRequest("id", raw, fmt.Sprintf("The `id` query parameter value [%s] does not match ^[0-9]{1,19}$", raw)), nil, nil
	}
	return s.lookup(ctx, c, []int64{id}, "id", true)
}

func (s *Server) getPosts(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	raw := c.r.URL.Query().Get("ids")
	if raw == "" {
		return invalidRequest("ids", "", "The `ids` query parameter can not be empty"), nil, nil
	}
	parts := strings.Split(raw, ",")
	if len(parts) > 100 {
		return invalidRequest("ids", raw, "The `ids` query parameter value has more than 100 items"), nil, nil
	}
	var ids []int64
	for _, part := range parts {
		id, ok := parseID(strings.TrimSpace(part))
		if !ok {
			return invalidRequest("ids", part, fmt.Sprintf("The `ids` query parameter value [%s] does not match ^[0-9]{1,19}$", part)), nil, nil
		}
		ids = append(ids, id)
	}
	return s.lookup(ctx, c, ids, "ids", false)
}

// lookup answers GET /2/tweets and /2/tweets/{id}: found posts in data, missing or deleted ones and
// ones whose owner-only fields we may not see as errors[] in a 200, as X does.
func (s *Server) lookup(ctx context.Context, c *call, ids []int64, param string, single bool) (reply, *rateHeaders, error) {
	f, rp := parseFields(c)
	if rp != nil {
		return *rp, nil, nil
	}
	found, err := s.store.Posts(ctx, ids)
	if err != nil {
		return reply{}, nil, fmt.Errorf("load posts: %w", err)
	}
	byID := map[int64]Post{}
	for _, p := range found {
		byID[p.ID] = p
	}
	var data []any
	var errs []any
	var shown []Post
	for _, id := range ids {
		p, ok := byID[id]
		if !ok || p.Deleted() || p.CreatedAt.After(c.now) {
			errs = append(errs, notFoundProblem("tweet", param, idStr(id)))
			continue
		}
		if denied := s.deniedField(c, p, f.post); denied != "" {
			errs = append(errs, notAuthorizedProblem(denied, idStr(id)))
			continue
		}
		data = append(data, s.renderPost(c, p, f.post, f.expansions))
		shown = append(shown, p)
	}
	body := map[string]any{}
	if len(data) > 0 {
		if single {
			body["data"] = data[0]
		} else {
			body["data"] = data
		}
		inc, err := s.includes(ctx, c, shown, f)
		if err != nil {
			return reply{}, nil, err
		}
		if inc != nil {
			body["includes"] = inc
		}
	}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	return okJSON(200, body), nil, nil
}

// deniedField names the first owner-only field requested on a post the caller may not see it on.
func (s *Server) deniedField(c *call, p Post, f fieldSet) string {
	if s.canSeeOwnerFields(c, p) {
		return ""
	}
	for _, name := range ownerOnly {
		if f[name] {
			return name
		}
	}
	return ""
}

func (s *Server) usersMe(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	f, rp := parseFields(c)
	if rp != nil {
		return *rp, nil, nil
	}
	u, err := s.store.User(ctx, c.me.UserID)
	if err != nil {
		return reply{}, nil, fmt.Errorf("load user %d: %w", c.me.UserID, err)
	}
	ru, err := s.renderUser(ctx, u, f.user)
	if err != nil {
		return reply{}, nil, err
	}
	return okJSON(200, map[string]any{"data": ru}), nil, nil
}

func (s *Server) userPosts(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	return s.timeline(ctx, c, func(u User, pq *PostQuery) {
		pq.AuthorID = u.ID
		for _, ex := range strings.Split(c.r.URL.Query().Get("exclude"), ",") {
			if ex == "replies" {
				pq.ExcludeReplies = true
			}
		}
	})
}

func (s *Server) mentions(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	return s.timeline(ctx, c, func(u User, pq *PostQuery) {
		pq.Mentioning = strings.ToLower(u.Username)
		pq.MentioningID = u.ID
	})
}

// timeline answers a user's posts or mentions.
func (s *Server) timeline(ctx context.Context, c *call, shape func(User, *PostQuery)) (reply, *rateHeaders, error) {
	raw := c.r.PathValue("id")
	id, ok := parseID(raw)
	if !ok {
		return invalidRequest("id", raw, fmt.Sprintf("The `id` query parameter value [%s] does not match ^[0-9]{1,19}$", raw)), nil, nil
	}
	if ex := c.r.URL.Query().Get("exclude"); ex != "" {
		if _, rp := parseList(ex, "exclude", excludeNames); rp != nil {
			return *rp, nil, nil
		}
	}
	pq, rp := listQuery(c, 5, 100, 10)
	if rp != nil {
		return *rp, nil, nil
	}
	u, err := s.store.User(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return okJSON(200, map[string]any{"errors": []any{notFoundProblem("user", "id", raw)}}), nil, nil
	}
	if err != nil {
		return reply{}, nil, fmt.Errorf("load user %d: %w", id, err)
	}
	shape(u, &pq)
	return s.list(ctx, c, pq)
}

func (s *Server) searchRecent(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	q := c.r.URL.Query().Get("query")
	if q == "" || len(q) > 4096 {
		return invalidRequest("query", q, "The `query` query parameter must be 1 to 4096 characters"), nil, nil
	}
	if so := c.r.URL.Query().Get("sort_order"); so != "" && so != "recency" && so != "relevancy" {
		return invalidRequest("sort_order", so, "The `sort_order` query parameter value is not one of [recency,relevancy]"), nil, nil
	}
	pq, rp := listQuery(c, 10, 100, 10)
	if rp != nil {
		return *rp, nil, nil
	}
	weekAgo := c.now.Add(-7 * 24 * time.Hour)
	if !pq.Since.IsZero() && pq.Since.Before(weekAgo) {
		v := c.r.URL.Query().Get("start_time")
		return invalidRequest("start_time", v, fmt.Sprintf("Invalid 'start_time':'%s'. 'start_time' must be on or after %s", v, weekAgo.UTC().Format(time.RFC3339))), nil, nil
	}
	if pq.Since.IsZero() {
		pq.Since = weekAgo
	}
	for _, term := range strings.Fields(q) {
		term = strings.Trim(term, `"()`)
		if term == "" || term == "OR" || strings.HasPrefix(term, "-") || strings.Contains(term, ":") {
			continue // operators are accepted and ignored: the simulator matches plain terms only
		}
		pq.Contains = append(pq.Contains, strings.ToLower(term))
	}
	return s.list(ctx, c, pq)
}

// list runs a post query and renders X's paged list response.
func (s *Server) list(ctx context.Context, c *call, pq PostQuery) (reply, *rateHeaders, error) {
	f, rp := parseFields(c)
	if rp != nil {
		return *rp, nil, nil
	}
	limit := pq.Limit
	pq.Limit = limit + 1
	if pq.Until.IsZero() || pq.Until.After(c.now) {
		pq.Until = c.now.Add(time.Millisecond)
	}
	posts, err := s.store.QueryPosts(ctx, pq)
	if err != nil {
		return reply{}, nil, fmt.Errorf("query posts: %w", err)
	}
	more := len(posts) > limit
	if more {
		posts = posts[:limit]
	}
	meta := map[string]any{"result_count": len(posts)}
	body := map[string]any{"meta": meta}
	if len(posts) == 0 {
		return okJSON(200, body), nil, nil
	}
	data := make([]any, 0, len(posts))
	for _, p := range posts {
		data = append(data, s.renderPost(c, p, f.post, f.expansions))
	}
	body["data"] = data
	meta["newest_id"] = idStr(posts[0].ID)
	meta["oldest_id"] = idStr(posts[len(posts)-1].ID)
	if more {
		meta["next_token"] = pageToken(posts[len(posts)-1].ID)
	}
	inc, err := s.includes(ctx, c, posts, f)
	if err != nil {
		return reply{}, nil, err
	}
	if inc != nil {
		body["includes"] = inc
	}
	return okJSON(200, body), nil, nil
}
