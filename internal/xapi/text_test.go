package xapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
)

// decodePage reads one timeline post as X returns it, through the client's own decoding.
func timelinePost(t *testing.T, raw string) xapi.Post {
	t.Helper()
	posts := decodeTimeline(t, `{"data":[`+raw+`],"meta":{"result_count":1}}`)
	require.Len(t, posts, 1)
	return posts[0]
}

func TestSameTextOnXShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ours    string
		replyTo string
		x       string // the post as X's timeline returns it
		same    bool
	}{
		{"entities escaped", "Ship small & often: <10 lines> per change", "",
			`{"id":"1","text":"Ship small &amp; often: &lt;10 lines&gt; per change","display_text_range":[0,39]}`, true},
		{"a literal entity we wrote is escaped once more", "AT&amp;T is not &lt;tag&gt;", "",
			`{"id":"1","text":"AT&amp;amp;T is not &amp;lt;tag&amp;gt;"}`, true},
		{"link as t.co", "Notes: https://example.com/guide?a=1&b=2 worth a read.", "",
			`{"id":"1","text":"Notes: https://t.co/AbCdEf1234 worth a read.","entities":{"urls":[{"start":7,"end":30,
			"url":"https://t.co/AbCdEf1234","expanded_url":"https://example.com/guide?a=1&b=2","display_url":"example.com/guide?a=1&b=2"}]}}`, true},
		{"bare domain linked", "Read example.com today.", "",
			`{"id":"1","text":"Read https://t.co/ZZZZZZZZZZ today."}`, true},
		{"reply with the author's handle in front", "Thanks & good question!", "99",
			`{"id":"1","text":"@someone Thanks &amp; good question!","display_text_range":[9,32],
			"referenced_tweets":[{"type":"replied_to","id":"99"}]}`, true},
		{"reply in 2.167 names without a range", "Thanks & good question!", "99",
			`{"id":"1","text":"@someone @other Thanks &amp; good question!","referenced_posts":[{"type":"replied_to","id":"99"}]}`, true},
		{"reply to another post", "Thanks & good question!", "99",
			`{"id":"1","text":"@someone Thanks &amp; good question!","display_text_range":[9,32],
			"referenced_posts":[{"type":"replied_to","id":"98"}]}`, false},
		{"a post that is not a reply is not our reply", "Thanks!", "99", `{"id":"1","text":"Thanks!"}`, false},
		{"a reply is not our post", "Thanks!", "", `{"id":"1","text":"@a Thanks!","referenced_posts":[{"type":"replied_to","id":"9"}]}`, false},
		{"NFC and whitespace", "Cafe\u0301  opens\nat  nine", "", `{"id":"1","text":"Café opens at nine"}`, true},
		{"different text", "Ship small and often", "", `{"id":"1","text":"Ship big and rarely"}`, false},
		{"case matters", "Ship small", "", `{"id":"1","text":"ship small"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.same, xapi.SameText(tc.ours, tc.replyTo, timelinePost(t, tc.x)))
		})
	}
}

// decodeTimeline decodes a timeline body the way UserPosts does, by serving it to the client.
func decodeTimeline(t *testing.T, body string) []xapi.Post {
	t.Helper()
	require.True(t, json.Valid([]byte(body)), body)
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, "application/json", body)
	})
	c := f.client(t, nil)
	posts, err := c.UserPosts(context.Background(), "42", xapi.TimelineQuery{})
	require.NoError(t, err)
	return posts
}

// A 403 is classified by X's problem type and text: credentials and permissions are ErrForbidden (the
// account pauses); a refusal of this post fails it alone; an unknown one is neither.
func TestForbiddenClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		want error
	}{
		{bodyNotPermitted, xapi.ErrForbidden},
		{`{"type":"https://api.twitter.com/2/problems/oauth1-permissions","title":"Forbidden","status":403,"detail":"Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."}`, xapi.ErrForbidden},
		{`{"type":"https://api.twitter.com/2/problems/unsupported-authentication","title":"Unsupported Authentication","status":403,"detail":"Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."}`, xapi.ErrForbidden},
		{`{"type":"https://api.twitter.com/2/problems/client-forbidden","title":"Client Forbidden","status":403,"detail":"This request must be made using an approved developer account that is enrolled in the requested endpoint. Learn more by visiting our documentation."}`, xapi.ErrForbidden},
		{`{"type":"about:blank","title":"Forbidden","status":403,"detail":"Your account is suspended and is not permitted to access this feature."}`, xapi.ErrForbidden},
		{bodyDuplicate, xapi.ErrDuplicate},
		{bodyReplyRefused, xapi.ErrReplyNotAllowed},
		{`{"type":"about:blank","title":"Forbidden","status":403,"detail":"Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to."}`, xapi.ErrReplyNotAllowed},
		{`{"type":"https://api.x.com/2/problems/disallowed-resource","title":"Disallowed Resource Error","status":403,"resource_type":"tweet","detail":"This post violates the rules of the platform and cannot be created."}`, xapi.ErrPostRefused},
		{`{"type":"about:blank","title":"Forbidden","status":403,"detail":"Forbidden"}`, xapi.ErrForbiddenUnknown},
	}
	for _, tc := range cases {
		f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			writeJSON(w, 403, "application/problem+json", tc.body)
		})
		_, err := f.client(t, nil).CreatePost(context.Background(), "hello", "")
		require.ErrorIs(t, err, tc.want, tc.body)
		for _, other := range []error{xapi.ErrForbidden, xapi.ErrDuplicate, xapi.ErrReplyNotAllowed, xapi.ErrPostRefused, xapi.ErrForbiddenUnknown} {
			if other != tc.want {
				require.NotErrorIs(t, err, other, tc.body)
			}
		}
	}
}

// A timeline page with errors[] about the posts asked for is Incomplete, not an empty timeline; a problem
// with an expanded referenced post is not.
func TestUserPostsErrorsAreIncomplete(t *testing.T) {
	t.Parallel()
	for body, incomplete := range map[string]bool{
		`{"errors":[{"value":"42","detail":"Sorry, you are not authorized to see the User with id: [42].","title":"Authorization Error","resource_type":"user","parameter":"id","resource_id":"42","type":"https://api.x.com/2/problems/not-authorized-for-resource"}]}`:                                                                                     true,
		`{"data":[{"id":"1","text":"hi","edit_history_post_ids":["1"]}],"errors":[{"value":"7","detail":"Could not find tweet with referenced_tweets.id: [7].","title":"Not Found Error","resource_type":"tweet","parameter":"referenced_tweets.id","resource_id":"7","type":"https://api.x.com/2/problems/resource-not-found"}],"meta":{"result_count":1}}`: false,
	} {
		f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, "application/json", body) })
		_, err := f.client(t, nil).UserPosts(context.Background(), "42", xapi.TimelineQuery{})
		var inc *xapi.Incomplete
		require.Equal(t, incomplete, errors.As(err, &inc), body)
		if !incomplete {
			require.NoError(t, err)
		}
	}
}

// A malformed body never carries the JSON decoder's error type, so nothing takes it for a job's own
// arguments failing to decode; a create's is an unknown outcome.
func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"data":{"id":"12`, `<html><body>OK</body></html>`} {
		f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("X-Xsim-Fault", "malformed_json")
			writeJSON(w, 200, "application/json", body)
		})
		c := f.client(t, nil)
		_, err := c.UserPosts(context.Background(), "42", xapi.TimelineQuery{})
		require.ErrorIs(t, err, xapi.ErrMalformed)
		var syn *json.SyntaxError
		require.False(t, errors.As(err, &syn), "the decoder's error is not in the chain")
		_, err = c.CreatePost(context.Background(), "hello", "")
		var amb *xapi.Ambiguous
		require.ErrorAs(t, err, &amb)
		require.ErrorIs(t, err, xapi.ErrMalformed)
		require.False(t, errors.As(err, &syn))
	}
}
