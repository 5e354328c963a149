package xsim_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xsim"
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
