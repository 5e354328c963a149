package xsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// createBody is CreatePostsRequest: every property the spec allows, so unknown ones are refused.
type createBody struct {
	Text                  *string         `json:"text"`
	Reply                 *createReply    `json:"reply"`
	CardURI               json.RawMessage `json:"card_uri"`
	CommunityID           json.RawMessage `json:"community_id"`
	DirectMessageDeepLink json.RawMessage `json:"direct_message_deep_link"`
	EditOptions           json.RawMessage `json:"edit_options"`
	ForSuperFollowersOnly json.RawMessage `json:"for_super_followers_only"`
	Geo                   json.RawMessage `json:"geo"`
	MadeWithAI            json.RawMessage `json:"made_with_ai"`
	Media                 json.RawMessage `json:"media"`
	Nullcast              json.RawMessage `json:"nullcast"`
	PaidPartnership       json.RawMessage `json:"paid_partnership"`
	Poll                  json.RawMessage `json:"poll"`
	QuoteTweetID          json.RawMessage `json:"quote_tweet_id"`
	ReplySettings         json.RawMessage `json:"reply_settings"`
	ShareWithFollowers    json.RawMessage `json:"share_with_followers"`
}

type createReply struct {
	InReplyToTweetID          string   `json:"in_reply_to_tweet_id"`
	AutoPopulateReplyMetadata *bool    `json:"auto_populate_reply_metadata"`
	ExcludeReplyUserIDs       []string `json:"exclude_reply_user_ids"`
}

const maxWeightedLength = 280

func (s *Server) createPost(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	headers, err := s.postWindows(ctx, c.me.UserID, c.now, nil)
	if err != nil {
		return reply{}, nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		return reply{}, nil, fmt.Errorf("read body: %w", err)
	}
	var body createBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return invalidRequest("body", "", "The request body is not valid JSON for this endpoint: "+jsonProblem(err)), &headers, nil
	}
	if body.Text == nil || strings.TrimSpace(*body.Text) == "" {
		return invalidRequest("text", "", "The `text` field is required and must not be empty"), &headers, nil
	}
	text := *body.Text
	if weightedLength(text) > maxWeightedLength {
		return invalidRequest("text", "", "Your Tweet text is too long."), &headers, nil
	}
	author, err := s.store.User(ctx, c.me.UserID)
	if err != nil {
		return reply{}, nil, fmt.Errorf("load user %d: %w", c.me.UserID, err)
	}
	p := Post{AuthorID: author.ID, Text: text, TextNorm: normalizeText(text), Mentions: mentionsIn(text), CreatedAt: c.now}
	if body.Reply != nil {
		targetID, ok := parseID(body.Reply.InReplyToTweetID)
		if !ok {
			return invalidRequest("reply.in_reply_to_tweet_id", body.Reply.InReplyToTweetID, "The `in_reply_to_tweet_id` field must match ^[0-9]{1,19}$"), &headers, nil
		}
		target, err := s.store.Post(ctx, targetID)
		if errors.Is(err, ErrNotFound) || (err == nil && target.Deleted()) {
			return invalidRequest("reply.in_reply_to_tweet_id", body.Reply.InReplyToTweetID, "You attempted to reply to a Tweet that is deleted or not visible to you."), &headers, nil
		}
		if err != nil {
			return reply{}, nil, fmt.Errorf("load reply target %d: %w", targetID, err)
		}
		if !mayReplyTo(c.me, target) {
			return blank(403, "Forbidden", "You can only reply to or quote posts where you are mentioned or are the author."), &headers, nil
		}
		p.InReplyToPostID, p.InReplyToUserID, p.ConversationID = target.ID, target.AuthorID, target.ConversationID
	}
	if err := s.planAudience(ctx, c, author, &p); err != nil {
		return reply{}, nil, err
	}
	res, err := s.store.CreatePost(ctx, NewPost{
		Post:           p,
		DuplicateSince: s.duplicateSince(c.now),
		UserWindow:     Window{Start: windowStart(c.now, 15*time.Minute), Max: s.cfg.PostsPer15Min},
		UserDay:        Window{Start: windowStart(c.now, 24*time.Hour), Max: s.cfg.PostsPerDay},
		AppDay:         Window{Start: windowStart(c.now, 24*time.Hour), Max: s.cfg.AppPostsPerDay},
	})
	if err != nil {
		return reply{}, nil, fmt.Errorf("create post: %w", err)
	}
	if headers, err = s.postWindows(ctx, c.me.UserID, c.now, &res); err != nil {
		return reply{}, nil, err
	}
	switch {
	case res.Limited:
		return tooManyRequests(), &headers, nil
	case res.Duplicate:
		return blank(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."), &headers, nil
	}
	id := idStr(res.Post.ID)
	shown, _, _ := xText(res.Post, s.replyHandle(c, res.Post))
	return okJSON(201, map[string]any{"data": map[string]any{
		"id": id, "text": escapeEntities.Replace(shown), "edit_history_post_ids": []string{id},
	}}), &headers, nil
}

// duplicateSince is how far back identical text is refused; zero (no check) when the check is off.
func (s *Server) duplicateSince(now time.Time) time.Time {
	if s.cfg.NoDuplicateCheck {
		return time.Time{}
	}
	return now.Add(-s.cfg.DuplicateWindow)
}

// mayReplyTo is X's rule for automated replies: the target is the user's own or mentions the user.
func mayReplyTo(user Account, target Post) bool {
	if target.AuthorID == user.UserID {
		return true
	}
	me := strings.ToLower(user.Username)
	for _, m := range target.Mentions {
		if m == me {
			return true
		}
	}
	return false
}

// planAudience fixes the post's features, reach and engagement rate from the hidden rates.
func (s *Server) planAudience(ctx context.Context, c *call, author User, p *Post) error {
	feat := Features{Hour: -1}
	if s.cfg.Features != nil {
		f, ok, err := s.cfg.Features.Features(ctx, p.Text)
		if err != nil {
			return fmt.Errorf("features of a new post: %w", err)
		}
		if ok {
			feat = f
		}
	}
	if feat.Hour < 0 || feat.Hour > 23 {
		feat.Hour = p.CreatedAt.UTC().Hour()
	}
	rates, err := s.store.Rates(ctx)
	if err != nil {
		return fmt.Errorf("load hidden rates: %w", err)
	}
	p.Features = feat
	p.Reach, p.EngagementRate = plan(c.state.Seed, author, p.Text, matchRate(rates, feat, c.state.DefaultRate))
	return nil
}

func (s *Server) deletePost(ctx context.Context, c *call) (reply, *rateHeaders, error) {
	raw := c.r.PathValue("id")
	id, ok := parseID(raw)
	if !ok {
		return invalidRequest("id", raw, fmt.Sprintf("The `id` query parameter value [%s] does not match ^[0-9]{1,19}$", raw)), nil, nil
	}
	p, err := s.store.Post(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && p.Deleted()) {
		body := notFoundProblem("tweet", "id", raw)
		body["status"] = 404
		return reply{status: 404, problemType: true, body: body}, nil, nil
	}
	if err != nil {
		return reply{}, nil, fmt.Errorf("load post %d: %w", id, err)
	}
	if p.AuthorID != c.me.UserID {
		body := notAuthorizedProblem("id", raw)
		body["detail"] = "You are not allowed to delete a Tweet that is not yours."
		body["status"] = 403
		delete(body, "section")
		return reply{status: 403, problemType: true, body: body}, nil, nil
	}
	if err := s.store.DeletePost(ctx, id, c.now); err != nil {
		return reply{}, nil, fmt.Errorf("delete post %d: %w", id, err)
	}
	return okJSON(200, map[string]any{"data": map[string]any{"deleted": true}}), nil, nil
}

// jsonProblem describes a decode error without echoing the body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON"
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "unreadable body"
}
