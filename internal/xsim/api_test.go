package xsim_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xsim"
)

func TestOAuth1SignaturesAcceptedForgedRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)

	me := do(t, b.user, "GET", b.url("/2/users/me?user.fields=public_metrics,created_at"), nil)
	require.Equal(t, 200, me.status, string(me.raw))
	require.Equal(t, strconv.FormatInt(xsim.DefaultUserID, 10), data(me)["id"])
	require.Equal(t, xsim.DefaultUsername, data(me)["username"])
	require.EqualValues(t, 5000, data(me)["public_metrics"].(map[string]any)["followers_count"])

	// Query parameters are part of the signature: a signed request with them still verifies.
	id := b.post(t, "signed post with a query afterwards")
	got := do(t, b.user, "GET", b.url("/2/tweets?ids="+id+"&post.fields=created_at,public_metrics"), nil)
	require.Equal(t, 200, got.status, string(got.raw))

	for name, c := range map[string]*http.Client{
		"wrong consumer secret": signedClient(b.cfg.ConsumerKey, "nope", b.cfg.AccessToken, b.cfg.AccessTokenSecret, b.spec.Recorder(t, nil)),
		"wrong token secret":    signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, "nope", b.spec.Recorder(t, nil)),
		"wrong consumer key":    signedClient("other", b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, b.spec.Recorder(t, nil)),
		"unsigned":              {Transport: b.spec.Recorder(t, nil)},
		"wrong bearer":          {Transport: bearerTransport{token: "forged", next: b.spec.Recorder(t, nil)}},
	} {
		r := do(t, c, "GET", b.url("/2/users/me"), nil)
		requireBlank(t, r, 401, "Unauthorized", "Unauthorized")
		require.NotEmpty(t, r.header.Get("x-rate-limit-reset"), name)
	}

	// A signature for another URL does not verify here: the base string covers method, URL and params.
	req, err := http.NewRequest("GET", b.url("/2/users/me?user.fields=created_at"), nil)
	require.NoError(t, err)
	signer := signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, captureAuth{&req.Header})
	_, _ = signer.Get(b.url("/2/users/me?user.fields=description"))
	r := do(t, &http.Client{Transport: fixedHeader{req.Header.Get("Authorization"), b.spec.Recorder(t, nil)}}, "GET", b.url("/2/users/me?user.fields=created_at"), nil)
	requireBlank(t, r, 401, "Unauthorized", "Unauthorized")

	// The bearer token reads, but cannot post or ask for the user context.
	rb := do(t, b.bearer, "GET", b.url("/2/tweets/"+id), nil)
	require.Equal(t, 200, rb.status, string(rb.raw))
	// X answers an app-only token on a user-context endpoint with its unsupported-authentication problem.
	ra := do(t, b.bearer, "POST", b.url("/2/tweets"), map[string]any{"text": "app-only"})
	require.Equal(t, 403, ra.status)
	require.JSONEq(t, `{"type":"https://api.twitter.com/2/problems/unsupported-authentication","title":"Unsupported Authentication",
		"status":403,"detail":"Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."}`, string(ra.raw))
}

// captureAuth records the Authorization header the signer produced and answers nothing useful.
type captureAuth struct{ h *http.Header }

func (c captureAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	(*c.h).Set("Authorization", r.Header.Get("Authorization"))
	return nil, http.ErrUseLastResponse
}

type fixedHeader struct {
	auth string
	next http.RoundTripper
}

func (f fixedHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", f.auth)
	return f.next.RoundTrip(r)
}

func TestCreateLookupDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)

	created := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Queues are just tables with opinions."})
	require.Equal(t, 201, created.status, string(created.raw))
	id := data(created)["id"].(string)
	require.Regexp(t, `^[0-9]{15,19}$`, id)
	require.Equal(t, []any{id}, data(created)["edit_history_post_ids"])
	for _, h := range []string{"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset",
		"x-user-limit-24hour-limit", "x-user-limit-24hour-remaining", "x-user-limit-24hour-reset",
		"x-app-limit-24hour-limit", "x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"} {
		require.NotEmpty(t, created.header.Get(h), h)
	}
	require.Equal(t, "99", created.header.Get("x-rate-limit-remaining"))

	second := b.post(t, "A second, later post.")
	a, _ := strconv.ParseInt(id, 10, 64)
	z, _ := strconv.ParseInt(second, 10, 64)
	require.Greater(t, z, a, "ids increase")

	b.advance(t, 3*time.Hour)
	one := do(t, b.user, "GET", b.url("/2/tweets/"+id+"?post.fields=created_at,conversation_id,public_metrics,non_public_metrics,organic_metrics&expansions=author_id"), nil)
	require.Equal(t, 200, one.status, string(one.raw))
	d := data(one)
	require.Equal(t, id, d["conversation_id"])
	require.Equal(t, strconv.FormatInt(xsim.DefaultUserID, 10), d["author_id"])
	require.Equal(t, "2025-03-03T09:00:00.000Z", d["created_at"])
	pm := d["public_metrics"].(map[string]any)
	require.Greater(t, num(pm["impression_count"]), int64(0))
	require.Contains(t, pm, "repost_count")
	require.NotContains(t, pm, "retweet_count")
	require.Equal(t, pm["impression_count"], d["non_public_metrics"].(map[string]any)["impression_count"])
	require.Equal(t, pm["impression_count"], d["organic_metrics"].(map[string]any)["impression_count"])
	require.Len(t, one.body["includes"].(map[string]any)["users"], 1)

	// The bearer token may not see owner-only metrics: errors[] not-authorized, like X.
	nb := do(t, b.bearer, "GET", b.url("/2/tweets?ids="+id+"&post.fields=non_public_metrics"), nil)
	require.Equal(t, 200, nb.status)
	require.NotContains(t, nb.body, "data")
	require.Equal(t, "https://api.x.com/2/problems/not-authorized-for-resource", nb.body["errors"].([]any)[0].(map[string]any)["type"])

	del := do(t, b.user, "DELETE", b.url("/2/tweets/"+id), nil)
	require.Equal(t, 200, del.status, string(del.raw))
	require.Equal(t, true, data(del)["deleted"])
	again := do(t, b.user, "DELETE", b.url("/2/tweets/"+id), nil)
	require.Equal(t, 404, again.status, string(again.raw))

	many := do(t, b.user, "GET", b.url("/2/tweets?ids="+id+","+second+",999&post.fields=public_metrics"), nil)
	require.Equal(t, 200, many.status, string(many.raw))
	require.Len(t, many.body["data"], 1)
	require.Equal(t, second, many.body["data"].([]any)[0].(map[string]any)["id"])
	errs := many.body["errors"].([]any)
	require.Len(t, errs, 2)
	for _, e := range errs {
		require.Equal(t, "https://api.x.com/2/problems/resource-not-found", e.(map[string]any)["type"])
	}
	gone := do(t, b.user, "GET", b.url("/2/tweets/"+id), nil)
	require.Equal(t, 200, gone.status)
	require.NotContains(t, gone.body, "data")
	require.Equal(t, id, gone.body["errors"].([]any)[0].(map[string]any)["resource_id"])
}

func TestOlderFieldNamesAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	mentions, err := b.sim.SeedMentions(context.Background(), 1)
	require.NoError(t, err)
	target := strconv.FormatInt(mentions[0].ID, 10)
	r := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Thanks for asking!", "reply": map[string]any{"in_reply_to_tweet_id": target}})
	require.Equal(t, 201, r.status, string(r.raw))
	id := data(r)["id"].(string)

	// 2.159 names (tweet.fields, referenced_tweets, author_id) are not in 2.167's enum, so this request
	// is checked by hand; the response still follows 2.167's schemas.
	u := b.url("/2/tweets/" + id + "?tweet.fields=author_id,in_reply_to_user_id,referenced_tweets,public_metrics,conversation_id")
	req, err := http.NewRequest("GET", u, nil)
	require.NoError(t, err)
	got := do(t, signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil), "GET", u, nil)
	require.Equal(t, 200, got.status, string(got.raw))
	require.NoError(t, b.spec.ValidateResponse(req, got.status, got.header, got.raw))
	d := data(got)
	require.Equal(t, []any{map[string]any{"type": "replied_to", "id": target}}, d["referenced_posts"])
	require.Equal(t, strconv.FormatInt(mentions[0].AuthorID, 10), d["in_reply_to_user_id"])
	require.Equal(t, target, d["conversation_id"])
	require.Contains(t, d, "author_id")
	require.Contains(t, d["public_metrics"], "repost_count")

	bad := do(t, signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil), "GET", b.url("/2/tweets/"+id+"?post.fields=nonsense"), nil)
	require.Equal(t, 400, bad.status)
	require.NoError(t, b.spec.ValidateResponse(req, bad.status, bad.header, bad.raw))
	require.Equal(t, "https://api.x.com/2/problems/invalid-request", bad.body["type"])

	unknown := do(t, signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil), "GET", b.url("/2/tweets/"+id+"?colour=blue"), nil)
	require.Equal(t, 400, unknown.status)
	require.NoError(t, b.spec.ValidateResponse(req, unknown.status, unknown.header, unknown.raw))
}

func TestDuplicateWithin24h(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	b.post(t, "Same words, same day.")
	dup := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "  same WORDS,   same day. "})
	requireBlank(t, dup, 403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
	require.NotEmpty(t, dup.header.Get("x-user-limit-24hour-remaining"))
	b.advance(t, 24*time.Hour+time.Minute)
	b.post(t, "Same words, same day.")
}

func TestPostingLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PostsPer15Min, cfg.PostsPerDay = 2, 3
	b := setup(t, cfg, nil)
	b.post(t, "one")
	b.post(t, "two")
	r := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "three"})
	requireBlank(t, r, 429, "Too Many Requests", "Too Many Requests")
	require.Equal(t, "0", r.header.Get("x-rate-limit-remaining"))
	require.Equal(t, strconv.FormatInt(t0.Add(15*time.Minute).Unix(), 10), r.header.Get("x-rate-limit-reset"))
	require.Equal(t, "1", r.header.Get("x-user-limit-24hour-remaining"))

	b.advance(t, 15*time.Minute)
	b.post(t, "three")
	r = do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "four"})
	require.Equal(t, 429, r.status)
	require.Equal(t, "0", r.header.Get("x-user-limit-24hour-remaining"))
	require.Equal(t, strconv.FormatInt(t0.Truncate(24*time.Hour).Add(24*time.Hour).Unix(), 10), r.header.Get("x-user-limit-24hour-reset"))
}

func TestReadRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ReadsPer15Min = 2
	b := setup(t, cfg, nil)
	for want := 1; want >= 0; want-- {
		r := do(t, b.user, "GET", b.url("/2/users/me"), nil)
		require.Equal(t, 200, r.status)
		require.Equal(t, strconv.Itoa(want), r.header.Get("x-rate-limit-remaining"))
	}
	requireBlank(t, do(t, b.user, "GET", b.url("/2/users/me"), nil), 429, "Too Many Requests", "Too Many Requests")
	b.advance(t, 15*time.Minute)
	require.Equal(t, 200, do(t, b.user, "GET", b.url("/2/users/me"), nil).status)
}

func TestReplyRules(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	ctx := context.Background()
	st := xsimStore(b)
	other, err := st.CreatePost(ctx, xsim.NewPost{Post: xsim.Post{AuthorID: 1590000000000000102, Text: "A post that does not mention anyone",
		TextNorm: "a post that does not mention anyone", CreatedAt: t0.Add(-time.Hour)}})
	require.NoError(t, err)
	r := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Unsolicited!", "reply": map[string]any{"in_reply_to_tweet_id": strconv.FormatInt(other.Post.ID, 10)}})
	requireBlank(t, r, 403, "Forbidden", "You can only reply to or quote posts where you are mentioned or are the author.")

	own := b.post(t, "Our own post")
	r = do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Replying to ourselves", "reply": map[string]any{"in_reply_to_tweet_id": own}})
	require.Equal(t, 201, r.status, string(r.raw))

	require.Equal(t, 200, do(t, b.user, "DELETE", b.url("/2/tweets/"+own), nil).status)
	r = do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Replying to a deleted post", "reply": map[string]any{"in_reply_to_tweet_id": own}})
	require.Equal(t, 400, r.status, string(r.raw))

	r = do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": string(make([]byte, 0)) + longText()})
	require.Equal(t, 400, r.status, string(r.raw))
}

func longText() string {
	s := ""
	for len(s) < 300 {
		s += "words "
	}
	return s
}

func TestTimelineMentionsSearch(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, b.post(t, "timeline post number "+strconv.Itoa(i)))
		b.advance(t, time.Minute)
	}
	me := strconv.FormatInt(xsim.DefaultUserID, 10)
	page1 := do(t, b.user, "GET", b.url("/2/users/"+me+"/tweets?max_results=5&post.fields=created_at,public_metrics"), nil)
	require.Equal(t, 200, page1.status, string(page1.raw))
	require.Len(t, page1.body["data"], 5)
	meta := page1.body["meta"].(map[string]any)
	require.Equal(t, ids[6], meta["newest_id"])
	require.Equal(t, ids[2], meta["oldest_id"])
	page2 := do(t, b.user, "GET", b.url("/2/users/"+me+"/tweets?max_results=5&pagination_token="+meta["next_token"].(string)), nil)
	require.Len(t, page2.body["data"], 2)
	require.NotContains(t, page2.body["meta"], "next_token")

	since := do(t, b.user, "GET", b.url("/2/users/"+me+"/tweets?since_id="+ids[4]), nil)
	require.Len(t, since.body["data"], 2)
	start := url.QueryEscape(t0.Add(5*time.Minute + 30*time.Second).Format(time.RFC3339))
	recent := do(t, b.user, "GET", b.url("/2/users/"+me+"/tweets?start_time="+start), nil)
	require.Len(t, recent.body["data"], 1)
	require.Equal(t, 400, do(t, signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil), "GET", b.url("/2/users/"+me+"/tweets?max_results=500"), nil).status)

	seeded, err := b.sim.SeedMentions(ctx, 12)
	require.NoError(t, err)
	hostile := 0
	for _, p := range seeded {
		require.Contains(t, p.Text, "@"+xsim.DefaultUsername)
		if xsim.IsHostileMention(p.Text, xsim.DefaultUsername) {
			hostile++
		}
	}
	require.Positive(t, hostile, "some seeded mentions are hostile")
	require.Less(t, hostile, 12, "and some are not")
	m := do(t, b.user, "GET", b.url("/2/users/"+me+"/mentions?max_results=100&expansions=author_id&user.fields=public_metrics&post.fields=created_at,conversation_id"), nil)
	require.Equal(t, 200, m.status, string(m.raw))
	require.Len(t, m.body["data"], 12)
	users := m.body["includes"].(map[string]any)["users"].([]any)
	require.NotEmpty(t, users)
	for _, u := range users {
		require.Greater(t, num(u.(map[string]any)["public_metrics"].(map[string]any)["followers_count"]), int64(0))
	}
	for _, p := range m.body["data"].([]any) {
		require.NotEqual(t, me, p.(map[string]any)["author_id"])
	}

	s := do(t, b.bearer, "GET", b.url("/2/tweets/search/recent?query="+url.QueryEscape("timeline number -is:retweet")+"&max_results=10"), nil)
	require.Equal(t, 200, s.status, string(s.raw))
	require.Len(t, s.body["data"], 7)
	none := do(t, b.bearer, "GET", b.url("/2/tweets/search/recent?query=zebra"), nil)
	require.EqualValues(t, 0, none.body["meta"].(map[string]any)["result_count"])
	require.NotContains(t, none.body, "data")
}
