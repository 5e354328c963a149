package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

func TestXSimCreatePostRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := store.NewXSim(dbtest.Tx(t))
	now := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	_, err := x.EnsureState(ctx, xsim.State{Seed: 3, DefaultRate: 0.02})
	require.NoError(t, err)
	require.NoError(t, x.UpsertUser(ctx, xsim.User{ID: 1590000000000000001, Username: "Me", Name: "me", CreatedAt: now}))

	np := func(text string, at time.Time) xsim.NewPost {
		return xsim.NewPost{
			Post:           xsim.Post{AuthorID: 1590000000000000001, Text: text, TextNorm: text, Mentions: []string{"a"}, CreatedAt: at},
			DuplicateSince: at.Add(-24 * time.Hour),
			UserWindow:     xsim.Window{Start: at.Truncate(15 * time.Minute), Max: 2},
		}
	}
	first, err := x.CreatePost(ctx, np("one", now))
	require.NoError(t, err)
	require.True(t, first.Created)
	require.Equal(t, first.Post.ID, first.Post.ConversationID, "a root post is its own conversation")
	require.Equal(t, 1, first.UserWindowUsed)

	dup, err := x.CreatePost(ctx, np("one", now.Add(time.Second)))
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.False(t, dup.Created)

	// The same millisecond still yields a larger id.
	second, err := x.CreatePost(ctx, np("two", now))
	require.NoError(t, err)
	require.Greater(t, second.Post.ID, first.Post.ID)

	full, err := x.CreatePost(ctx, np("three", now.Add(time.Minute)))
	require.NoError(t, err)
	require.True(t, full.Limited)
	require.Equal(t, 2, full.UserWindowUsed)

	require.NoError(t, x.DeletePost(ctx, first.Post.ID, now.Add(time.Minute)))
	require.ErrorIs(t, x.DeletePost(ctx, first.Post.ID, now.Add(time.Minute)), xsim.ErrNotFound)
	got, err := x.Post(ctx, first.Post.ID)
	require.NoError(t, err)
	require.True(t, got.Deleted())
	_, err = x.Post(ctx, 1)
	require.True(t, errors.Is(err, xsim.ErrNotFound))

	mentioning, err := x.QueryPosts(ctx, xsim.PostQuery{Mentioning: "a", MentioningID: 99, Limit: 10})
	require.NoError(t, err)
	require.Len(t, mentioning, 1, "deleted posts are left out")
	require.Equal(t, second.Post.ID, mentioning[0].ID)
}

func TestXSimFaultsAndCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := store.NewXSim(dbtest.Tx(t))
	f, err := x.AddFault(ctx, xsim.Fault{Endpoint: "create_post", Kind: xsim.FaultReset, Count: 2})
	require.NoError(t, err)
	for _, want := range []bool{true, true, false} {
		ok, err := x.TakeFault(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, want, ok)
	}
	left, err := x.Faults(ctx)
	require.NoError(t, err)
	require.Empty(t, left, "a spent fault is no longer listed")

	w := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	for want := 1; want <= 3; want++ {
		n, err := x.CountRequest(ctx, "users_me", w)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	n, err := x.PeekRequests(ctx, "users_me", w.Add(15*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n)

	require.NoError(t, x.PutRate(ctx, xsim.Rate{Topic: "go", Format: "*", Hook: "*", Hour: -1, Rate: 0.1}))
	require.NoError(t, x.PutRate(ctx, xsim.Rate{Topic: "go", Format: "*", Hook: "*", Hour: -1, Rate: 0.2}))
	rates, err := x.Rates(ctx)
	require.NoError(t, err)
	require.Equal(t, []xsim.Rate{{Topic: "go", Format: "*", Hook: "*", Hour: -1, Rate: 0.2}}, rates)
}
