package xsim_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

// client is xbot's real X client pointed at the simulator, every exchange checked against the spec.
func (b *testBundle) client(t *testing.T, creds xapi.OAuth1Creds, timeout time.Duration) *xapi.Client {
	t.Helper()
	c, err := xapi.New(xapi.Config{BaseURL: b.ts.URL, CallTimeout: timeout, Creds: creds, Bearer: b.cfg.BearerToken,
		HTTPClient: &http.Client{Transport: b.spec.Recorder(t, nil)}})
	require.NoError(t, err)
	return c
}

func (b *testBundle) creds() xapi.OAuth1Creds {
	return xapi.OAuth1Creds{ConsumerKey: b.cfg.ConsumerKey, ConsumerSecret: b.cfg.ConsumerSecret,
		AccessToken: b.cfg.AccessToken, AccessSecret: b.cfg.AccessTokenSecret}
}

func TestThroughClientHappyPath(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	ctx := context.Background()
	c := b.client(t, b.creds(), 5*time.Second)

	me, err := c.Me(ctx)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(xsim.DefaultUserID, 10), me.ID)
	require.EqualValues(t, 5000, me.Followers)

	p, err := c.CreatePost(ctx, "Through the real client.", "")
	require.NoError(t, err)
	q, ok := c.Quota()
	require.True(t, ok)
	require.NotNil(t, q.Window)

	b.advance(t, 4*time.Hour)
	got, err := c.GetPost(ctx, p.ID)
	require.NoError(t, err)
	require.Positive(t, got.Metrics.Impressions)
	require.Equal(t, "non_public", got.Metrics.ImpressionsFrom)
	truth, err := b.sim.Metrics(ctx, mustID(t, p.ID))
	require.NoError(t, err)
	require.Equal(t, truth.Impressions, got.Metrics.Impressions)
	require.Equal(t, truth.Likes, got.Metrics.Likes)

	timeline, err := c.UserPosts(ctx, me.ID, xapi.TimelineQuery{StartTime: t0.Add(-time.Minute), MaxResults: 5})
	require.NoError(t, err)
	require.Len(t, timeline, 1)
	require.Equal(t, p.ID, timeline[0].ID)

	_, err = b.sim.SeedMentions(ctx, 4)
	require.NoError(t, err)
	mentions, err := c.Mentions(ctx, me.ID, xapi.TimelineQuery{MaxResults: 10})
	require.NoError(t, err)
	require.Len(t, mentions, 4)
	for _, m := range mentions {
		require.Positive(t, m.Author.Followers)
	}
	reply, err := c.CreatePost(ctx, "Thanks for the question!", mentions[0].ID)
	require.NoError(t, err)
	require.NotEmpty(t, reply.ID)

	found, err := c.SearchRecent(ctx, "real client", xapi.TimelineQuery{})
	require.NoError(t, err)
	require.Len(t, found, 1)

	require.NoError(t, c.DeletePost(ctx, p.ID))
	posts, missing, err := c.LookupPosts(ctx, []string{p.ID, reply.ID})
	require.NoError(t, err)
	require.Len(t, posts, 1)
	require.Len(t, missing, 1)
	require.ErrorIs(t, &missing[0], xapi.ErrNotFound)
}

func TestThroughClientTypedErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PostsPer15Min = 3
	b := setup(t, cfg, nil)
	ctx := context.Background()
	c := b.client(t, b.creds(), 5*time.Second)

	_, err := c.CreatePost(ctx, "said once", "")
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, "said once", "")
	require.ErrorIs(t, err, xapi.ErrDuplicate)

	other, err := xsimStore(b).CreatePost(ctx, xsim.NewPost{Post: xsim.Post{AuthorID: 1590000000000000104,
		Text: "no mention here", TextNorm: "no mention here", CreatedAt: t0.Add(-time.Hour)}})
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, "butting in", strconv.FormatInt(other.Post.ID, 10))
	require.ErrorIs(t, err, xapi.ErrReplyNotAllowed)

	forged := b.creds()
	forged.AccessSecret = "stolen-but-wrong"
	_, err = b.client(t, forged, 5*time.Second).Me(ctx)
	require.ErrorIs(t, err, xapi.ErrUnauthorized)

	_, err = b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultForbidden, Count: 1})
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, "not permitted", "")
	require.ErrorIs(t, err, xapi.ErrForbidden)

	_, err = c.CreatePost(ctx, "second", "")
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, "third", "")
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, "fourth", "")
	var rl *xapi.RateLimited
	require.ErrorAs(t, err, &rl)
	require.Equal(t, t0.Add(15*time.Minute).Unix(), rl.Reset.Unix())
}

func TestThroughClientAmbiguousCreates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, kind := range []xsim.FaultKind{xsim.FaultTimeoutAfter, xsim.FaultTimeoutBefore, xsim.FaultServerError, xsim.FaultReset} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig(), nil)
			c := b.client(t, b.creds(), 300*time.Millisecond)
			_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: kind, Count: 1})
			require.NoError(t, err)
			_, err = c.CreatePost(ctx, "maybe posted", "")
			var amb *xapi.Ambiguous
			require.ErrorAs(t, err, &amb)
			want := 0
			if kind == xsim.FaultTimeoutAfter {
				want = 1
			}
			require.Eventually(t, func() bool {
				posts, err := c.UserPosts(ctx, strconv.FormatInt(xsim.DefaultUserID, 10), xapi.TimelineQuery{StartTime: t0.Add(-time.Minute)})
				return err == nil && len(posts) == want
			}, 5*time.Second, 20*time.Millisecond)
		})
	}
}

func TestThroughClientTwoInstancesAgree(t *testing.T) {
	t.Parallel()
	a := setup(t, testConfig(), nil)
	b := setup(t, testConfig(), a.pool)
	ctx := context.Background()
	ca, cb := a.client(t, a.creds(), 5*time.Second), b.client(t, b.creds(), 5*time.Second)
	p, err := ca.CreatePost(ctx, "one world, two doors", "")
	require.NoError(t, err)
	a.advance(t, 6*time.Hour)
	ga, err := ca.GetPost(ctx, p.ID)
	require.NoError(t, err)
	gb, err := cb.GetPost(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, ga, gb)
	require.Positive(t, gb.Metrics.Impressions)
	_, err = cb.CreatePost(ctx, "One world, two doors", "")
	require.True(t, errors.Is(err, xapi.ErrDuplicate))
}

// The simulator returns texts as X does, every exchange valid against the spec: "&<>" escaped, a reply
// with the replied-to author's @handle in front and display_text_range after it, links as t.co links with
// entities.urls; and the client's SameText recognises each as ours.
func TestThroughClientTextAsXReturnsIt(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.NoDuplicateCheck = true
	b := setup(t, cfg, nil)
	ctx := context.Background()
	c := b.client(t, b.creds(), 5*time.Second)
	mentions, err := b.sim.SeedMentions(ctx, 1)
	require.NoError(t, err)
	target := strconv.FormatInt(mentions[0].ID, 10)
	author, err := xsimStore(b).User(ctx, mentions[0].AuthorID)
	require.NoError(t, err)

	single := "Small & often <always>: see https://example.com/a?b=1&c=2."
	reply := "Thanks & see example.com/docs"
	_, err = c.CreatePost(ctx, single, "")
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, reply, target)
	require.NoError(t, err)
	_, err = c.CreatePost(ctx, single, "")
	require.NoError(t, err, "the duplicate check is off")

	me := strconv.FormatInt(xsim.DefaultUserID, 10)
	posts, err := c.UserPosts(ctx, me, xapi.TimelineQuery{StartTime: t0.Add(-time.Minute), MaxResults: 5})
	require.NoError(t, err)
	require.Len(t, posts, 3)
	r, s := posts[1], posts[2] // newest first
	require.Regexp(t, `^Small &amp; often &lt;always&gt;: see https://t\.co/[0-9A-Za-z]{10}\.$`, s.Text)
	require.Len(t, s.Links, 1)
	require.Equal(t, "https://example.com/a?b=1&c=2", s.Links[0].ExpandedURL)
	require.Equal(t, 0, s.DisplayStart)
	require.Regexp(t, `^@`+author.Username+` Thanks &amp; see https://t\.co/[0-9A-Za-z]{10}$`, r.Text)
	require.Equal(t, len([]rune("@"+author.Username+" ")), r.DisplayStart)
	require.Equal(t, target, r.InReplyTo)
	require.Equal(t, "http://example.com/docs", r.Links[0].ExpandedURL)

	require.True(t, xapi.SameText(single, "", s))
	require.True(t, xapi.SameText(reply, target, r))
	require.False(t, xapi.SameText(reply, "", r))
	require.False(t, xapi.SameText(single, target, s))
}

// The faults that make X's answers unlike its spec on purpose, and the 403 family, through the client.
func TestThroughClientBrokenAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	ctx := context.Background()
	c := b.client(t, b.creds(), 5*time.Second)
	me := strconv.FormatInt(xsim.DefaultUserID, 10)
	add := func(f xsim.Fault) {
		t.Helper()
		_, err := b.sim.AddFault(ctx, f)
		require.NoError(t, err)
	}

	add(xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultErrors200, Count: 1})
	_, err := c.UserPosts(ctx, me, xapi.TimelineQuery{})
	var inc *xapi.Incomplete
	require.ErrorAs(t, err, &inc)

	add(xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultMalformedJSON, Count: 1})
	_, err = c.UserPosts(ctx, me, xapi.TimelineQuery{})
	require.ErrorIs(t, err, xapi.ErrMalformed)

	add(xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultHTML, Count: 1})
	_, err = c.UserPosts(ctx, me, xapi.TimelineQuery{})
	var apiErr *xapi.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 502, apiErr.Status)

	add(xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultRateLimit, Count: 1})
	_, err = c.UserPosts(ctx, me, xapi.TimelineQuery{})
	var rl *xapi.RateLimited
	require.ErrorAs(t, err, &rl)

	add(xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultMalformedJSON, Count: 1})
	_, err = c.CreatePost(ctx, "cut short", "")
	var amb *xapi.Ambiguous
	require.ErrorAs(t, err, &amb)
	add(xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultHTML, Status: 200, Count: 1})
	_, err = c.CreatePost(ctx, "an html page", "")
	require.ErrorAs(t, err, &amb)

	for kind, want := range map[xsim.FaultKind]error{
		xsim.FaultForbidden: xapi.ErrForbidden, xsim.FaultForbiddenOAuth1Permissions: xapi.ErrForbidden,
		xsim.FaultForbiddenUnsupportedAuth: xapi.ErrForbidden, xsim.FaultForbiddenClient: xapi.ErrForbidden,
		xsim.FaultForbiddenSuspended: xapi.ErrForbidden, xsim.FaultForbiddenReplyRestricted: xapi.ErrReplyNotAllowed,
		xsim.FaultForbiddenPolicy: xapi.ErrPostRefused, xsim.FaultForbiddenUnknown: xapi.ErrForbiddenUnknown,
	} {
		add(xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: kind, Count: 1})
		_, err = c.CreatePost(ctx, "refused "+string(kind), "")
		require.ErrorIs(t, err, want, kind)
	}
}

// More users of the same app: each access token acts as its own user (identity, posts, owner metrics,
// deletes, rate-limit buckets), an unknown token or a token signed with another user's secret is refused.
func TestThroughClientSeveralAccounts(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	one, two := xsim.NumberedAccount(1), xsim.NumberedAccount(2)
	cfg.Accounts = []xsim.Account{one, two}
	b := setup(t, cfg, nil)
	ctx := context.Background()
	as := func(a xsim.Account) *xapi.Client {
		return b.client(t, xapi.OAuth1Creds{ConsumerKey: cfg.ConsumerKey, ConsumerSecret: cfg.ConsumerSecret,
			AccessToken: a.AccessToken, AccessSecret: a.AccessTokenSecret}, 5*time.Second)
	}
	main, c1, c2 := b.client(t, b.creds(), 5*time.Second), as(one), as(two)

	me1, err := c1.Me(ctx)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(one.UserID, 10), me1.ID)
	require.Equal(t, "xbot_sim_1", me1.Username)
	me0, err := main.Me(ctx)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(xsim.DefaultUserID, 10), me0.ID)

	p1, err := c1.CreatePost(ctx, "Posted by the first extra account.", "")
	require.NoError(t, err)
	// Identical text from another user is not a duplicate: X refuses duplicates per user.
	_, err = c2.CreatePost(ctx, "Posted by the first extra account.", "")
	require.NoError(t, err)
	b.advance(t, time.Hour)
	on1, err := c1.UserPosts(ctx, me1.ID, xapi.TimelineQuery{StartTime: t0.Add(-time.Minute), MaxResults: 5})
	require.NoError(t, err)
	require.Len(t, on1, 1)
	require.Equal(t, p1.ID, on1[0].ID)
	on0, err := main.UserPosts(ctx, me0.ID, xapi.TimelineQuery{StartTime: t0.Add(-time.Minute), MaxResults: 5})
	require.NoError(t, err)
	require.Empty(t, on0)

	// The author sees its post's owner-only metrics; another user of the app is refused them, as X does,
	// and may not delete the post.
	own, err := c1.GetPost(ctx, p1.ID)
	require.NoError(t, err)
	require.Equal(t, "non_public", own.Metrics.ImpressionsFrom)
	_, err = c2.GetPost(ctx, p1.ID)
	require.ErrorContains(t, err, "not authorized to access 'non_public_metrics'")
	require.Error(t, c2.DeletePost(ctx, p1.ID))
	require.NoError(t, c1.DeletePost(ctx, p1.ID))

	// Reads are counted per user token: the first account's reads leave the second's window whole.
	u1 := signedClient(cfg.ConsumerKey, cfg.ConsumerSecret, one.AccessToken, one.AccessTokenSecret, http.DefaultTransport)
	u2 := signedClient(cfg.ConsumerKey, cfg.ConsumerSecret, two.AccessToken, two.AccessTokenSecret, http.DefaultTransport)
	left := func(c *http.Client) int {
		r := do(t, c, "GET", b.url("/2/users/me"), nil)
		require.Equal(t, 200, r.status)
		n, err := strconv.Atoi(r.header.Get("x-rate-limit-remaining"))
		require.NoError(t, err)
		return n
	}
	first := left(u1)
	require.Equal(t, first-1, left(u1))
	require.Equal(t, first-2, left(u1))
	require.Equal(t, first, left(u2), "the second account's window is its own")

	// A token the simulator does not serve, or a served token signed with another user's secret: 401.
	for _, c := range []*http.Client{
		signedClient(cfg.ConsumerKey, cfg.ConsumerSecret, "at-unknown", one.AccessTokenSecret, http.DefaultTransport),
		signedClient(cfg.ConsumerKey, cfg.ConsumerSecret, one.AccessToken, two.AccessTokenSecret, http.DefaultTransport),
	} {
		require.Equal(t, 401, do(t, c, "GET", b.url("/2/users/me"), nil).status)
	}
}

func TestNewServerRefusesRepeatedAccounts(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	for _, accts := range [][]xsim.Account{
		{xsim.NumberedAccount(1), xsim.NumberedAccount(1)},
		{{UserID: xsim.DefaultUserID, Username: "someone_else", AccessToken: "a", AccessTokenSecret: "b"}},
		{{UserID: 7, Username: "no_secret", AccessToken: "a"}},
		{{UserID: 8, Username: "not a handle", AccessToken: "a", AccessTokenSecret: "b"}},
	} {
		cfg := testConfig()
		cfg.Accounts = accts
		_, err := xsim.NewServer(context.Background(), cfg, store.NewXSim(pool))
		require.ErrorContains(t, err, "xsim: account")
	}
}
