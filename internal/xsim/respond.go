package xsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var handleRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,15}$`)

const problemBase = "https://api.x.com/2/problems/"

// reply is one response, written at the end so headers always go out with it.
type reply struct {
	status      int
	body        any
	problemType bool // application/problem+json
	headers     map[string]string
}

func okJSON(status int, body any) reply { return reply{status: status, body: body} }

// blank is X's plain about:blank problem body (401, 403s, 429, 5xx).
func blank(status int, title, detail string) reply {
	return reply{status: status, problemType: true, body: map[string]any{
		"title": title, "detail": detail, "type": "about:blank", "status": status,
	}}
}

func unauthorized() reply { return blank(401, "Unauthorized", "Unauthorized") }

func tooManyRequests() reply { return blank(429, "Too Many Requests", "Too Many Requests") }

// forbiddenPermissions is X's 403 when the app or token may not use the endpoint (an app-only bearer
// on a user-context endpoint, a read-only app posting).
func forbiddenPermissions() reply {
	return blank(403, "Forbidden", detailNotPermitted)
}

// FaultHeader marks a response an injected fault made deliberately unlike X's spec (a cut body, an HTML
// page), so a contract check can tell it from a simulator bug.
const FaultHeader = "X-Xsim-Fault"

// X's own problem types outside the spec, as it sends them (api.twitter.com host).
const legacyProblemBase = "https://api.twitter.com/2/problems/"

// Texts of the 403s X sends.
const (
	detailNotPermitted    = "You are not permitted to perform this action."
	detailDuplicate       = "You are not allowed to create a Tweet with duplicate content."
	detailReplyNotAllowed = "You can only reply to or quote posts where you are mentioned or are the author."
	detailReplyRestricted = "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to."
	detailSuspended       = "Your account is suspended and is not permitted to access this feature."
)

// typedProblem is one of X's problem bodies with its own type.
func typedProblem(status int, typ, title, detail string) reply {
	return reply{status: status, problemType: true, body: map[string]any{
		"title": title, "detail": detail, "type": typ, "status": status,
	}}
}

// unsupportedAuthentication is X's 403 for an app-only bearer on an endpoint that needs user context.
func unsupportedAuthentication() reply {
	return typedProblem(403, legacyProblemBase+"unsupported-authentication", "Unsupported Authentication",
		"Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].")
}

// forbiddenFault is the body of one of the 403 faults.
func forbiddenFault(kind FaultKind) reply {
	switch kind {
	case FaultForbiddenOAuth1Permissions:
		return typedProblem(403, legacyProblemBase+"oauth1-permissions", "Forbidden",
			"Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.")
	case FaultForbiddenUnsupportedAuth:
		return unsupportedAuthentication()
	case FaultForbiddenClient:
		return typedProblem(403, legacyProblemBase+"client-forbidden", "Client Forbidden",
			"This request must be made using an approved developer account that is enrolled in the requested endpoint. Learn more by visiting our documentation.")
	case FaultForbiddenSuspended:
		return blank(403, "Forbidden", detailSuspended)
	case FaultForbiddenReplyRestricted:
		return blank(403, "Forbidden", detailReplyRestricted)
	case FaultForbiddenPolicy:
		rp := typedProblem(403, problemBase+"disallowed-resource", "Disallowed Resource Error",
			"This post violates the rules of the platform and cannot be created.")
		rp.body.(map[string]any)["resource_type"] = "tweet"
		return rp
	case FaultForbiddenUnknown:
		return blank(403, "Forbidden", "Forbidden")
	}
	return forbiddenPermissions()
}

// errors200 is a read's 200 with errors[] and no data: X could not show the posts asked for.
func (s *Server) errors200(c *call) reply {
	id := cmp.Or(c.r.PathValue("id"), idStr(c.me.UserID))
	return okJSON(200, map[string]any{"errors": []any{map[string]any{
		"value": id, "detail": fmt.Sprintf("Sorry, you are not authorized to see the User with id: [%s].", id),
		"title": "Authorization Error", "resource_type": "user", "parameter": "id", "resource_id": id,
		"type": problemBase + "not-authorized-for-resource",
	}}})
}

const htmlErrorPage = `<!DOCTYPE html><html><head><title>%d %s</title></head><body><h1>%s</h1><p>Something went wrong. Try again later.</p></body></html>`

// writeMalformed answers with what a broken X sends: rp's body cut in half, or an HTML page.
func (s *Server) writeMalformed(w http.ResponseWriter, rl rateHeaders, rp reply, f *Fault) {
	h := w.Header()
	rl.set(h)
	h.Set(FaultHeader, string(f.Kind))
	if f.Kind == FaultHTML {
		status := cmp.Or(f.Status, rp.status)
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, htmlErrorPage, status, http.StatusText(status), http.StatusText(status))
		return
	}
	b, err := json.Marshal(rp.body)
	if err != nil {
		b = []byte(`{"data":{}}`)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rp.status)
	_, _ = w.Write(b[:len(b)/2])
}

// serverError is a 5xx as the spec's internal-error problem (faults and hung requests end this way).
func serverError(status int) reply {
	return reply{status: status, problemType: true, body: map[string]any{
		"title": "Internal Error", "detail": http.StatusText(status), "type": problemBase + "internal-error", "status": status,
	}}
}

// invalidRequest is the spec's invalid-request problem with X's per-parameter errors.
func invalidRequest(param, value, message string) reply {
	body := map[string]any{
		"title":  "Invalid Request",
		"detail": "One or more parameters to your request was invalid.",
		"type":   problemBase + "invalid-request",
		"status": 400,
	}
	if message != "" {
		e := map[string]any{"message": message}
		if param != "" {
			e["parameters"] = map[string]any{param: []string{value}}
		}
		body["errors"] = []any{e}
	}
	return reply{status: 400, problemType: true, body: body}
}

// notFoundProblem is one errors[] entry for a missing resource.
func notFoundProblem(resourceType, param, id string) map[string]any {
	return map[string]any{
		"value":         id,
		"detail":        fmt.Sprintf("Could not find %s with %s: [%s].", resourceType, param, id),
		"title":         "Not Found Error",
		"resource_type": resourceType,
		"parameter":     param,
		"resource_id":   id,
		"type":          problemBase + "resource-not-found",
	}
}

// notAuthorizedProblem is one errors[] entry for a post whose owner-only fields we may not see.
func notAuthorizedProblem(field, id string) map[string]any {
	return map[string]any{
		"value":         id,
		"detail":        fmt.Sprintf("Sorry, you are not authorized to access '%s' on the Tweet with id: %s.", field, id),
		"title":         "Authorization Error",
		"resource_type": "tweet",
		"parameter":     field,
		"resource_id":   id,
		"section":       "data",
		"type":          problemBase + "not-authorized-for-resource",
	}
}

func (s *Server) write(w http.ResponseWriter, rl rateHeaders, rp reply) {
	h := w.Header()
	rl.set(h)
	for k, v := range rp.headers {
		h.Set(k, v)
	}
	if rp.problemType {
		h.Set("Content-Type", "application/problem+json")
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	b, err := json.Marshal(rp.body)
	if err != nil {
		s.log.Error("[XSIM] encode response")
		w.WriteHeader(500)
		return
	}
	w.WriteHeader(rp.status)
	_, _ = w.Write(b)
}

// rateHeaders are the x-rate-limit-* headers (and, on POST /2/tweets, the 24-hour ones).
type rateHeaders struct {
	limit, remaining int
	reset            time.Time
	user24, app24    *window24
}

type window24 struct {
	limit, remaining int
	reset            time.Time
}

func (r rateHeaders) set(h http.Header) {
	if r.reset.IsZero() {
		return
	}
	h.Set("x-rate-limit-limit", strconv.Itoa(r.limit))
	h.Set("x-rate-limit-remaining", strconv.Itoa(max(r.remaining, 0)))
	h.Set("x-rate-limit-reset", strconv.FormatInt(r.reset.Unix(), 10))
	if r.user24 != nil {
		h.Set("x-user-limit-24hour-limit", strconv.Itoa(r.user24.limit))
		h.Set("x-user-limit-24hour-remaining", strconv.Itoa(max(r.user24.remaining, 0)))
		h.Set("x-user-limit-24hour-reset", strconv.FormatInt(r.user24.reset.Unix(), 10))
	}
	if r.app24 != nil {
		h.Set("x-app-limit-24hour-limit", strconv.Itoa(r.app24.limit))
		h.Set("x-app-limit-24hour-remaining", strconv.Itoa(max(r.app24.remaining, 0)))
		h.Set("x-app-limit-24hour-reset", strconv.FormatInt(r.app24.reset.Unix(), 10))
	}
}

// windowStart is the start of the fixed window of length d holding t.
func windowStart(t time.Time, d time.Duration) time.Time { return t.Truncate(d) }

// fieldSet is the requested fields of one kind.
type fieldSet map[string]bool

// parseList reads a comma-separated parameter, mapping old names to new, refusing unknown values.
func parseList(raw, param string, allowed map[string]string) (fieldSet, *reply) {
	out := fieldSet{}
	if raw == "" {
		return out, nil
	}
	var bad []string
	for _, v := range strings.Split(raw, ",") {
		v = strings.TrimSpace(v)
		canon, ok := allowed[v]
		if !ok {
			bad = append(bad, v)
			continue
		}
		out[canon] = true
	}
	if len(bad) > 0 {
		rp := invalidRequest(param, strings.Join(bad, ","), fmt.Sprintf("The `%s` query parameter value [%s] is not one of the allowed values", param, strings.Join(bad, ",")))
		return nil, &rp
	}
	return out, nil
}

func identity(vals ...string) map[string]string {
	m := map[string]string{}
	for _, v := range vals {
		m[v] = v
	}
	return m
}

// postFields: 2.167's names, plus the 2.159 names and default fields X still accepts, mapped to 2.167's.
var postFields = func() map[string]string {
	m := identity("article", "article_title", "attachments", "card_uri", "community_id", "context_annotations",
		"conversation_id", "created_at", "display_text_range", "edit_controls", "entities", "geo", "id", "lang",
		"matched_media_notes", "media_metadata", "non_public_metrics", "note_post", "note_request_suggestions",
		"organic_metrics", "paid_partnership", "possibly_sensitive", "promoted_metrics", "public_metrics",
		"reply_settings", "scopes", "source", "suggested_source_links", "suggested_source_links_with_counts",
		"text", "withheld", "author_id", "in_reply_to_user_id", "referenced_posts", "edit_history_post_ids",
		"note_tweet")
	m["referenced_tweets"] = "referenced_posts"
	m["edit_history_tweet_ids"] = "edit_history_post_ids"
	return m
}()

var userFields = identity("affiliation", "confirmed_email", "connection_status", "created_at", "description",
	"entities", "id", "is_identity_verified", "location", "most_recent_tweet_id", "most_recent_post_id", "name",
	"parody", "pinned_tweet_id", "pinned_post_id", "profile_banner_url", "profile_image_url", "protected",
	"public_metrics", "receives_your_dm", "subscribes_to_you", "subscription", "subscription_type", "url",
	"username", "verified", "verified_followers_count", "verified_type", "withheld")

var expansionNames = func() map[string]string {
	m := identity("article.cover_media", "article.media_entities", "attachments.media_keys",
		"attachments.media_source_tweet", "attachments.poll_ids", "author_id", "edit_history_post_ids",
		"entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "referenced_posts", "username",
		"pinned_post_id", "most_recent_post_id", "affiliation.user_id")
	m["referenced_tweets.id"] = "referenced_posts"
	m["referenced_tweets.id.author_id"] = "referenced_posts.author_id"
	m["edit_history_tweet_ids"] = "edit_history_post_ids"
	m["pinned_tweet_id"] = "pinned_post_id"
	return m
}()

var excludeNames = identity("replies", "retweets")
