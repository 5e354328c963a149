package xsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// authKind is how a request authenticated.
type authKind int

const (
	authNone   authKind = iota
	authUser            // OAuth 1.0a user context as our account
	authBearer          // app-only bearer token
)

// authenticate checks the Authorization header: a valid OAuth 1.0a signature with the configured
// consumer and one of the served users' tokens (that user is returned), or the configured bearer token.
// Anything else is authNone.
func (s *Server) authenticate(r *http.Request) (authKind, Account) {
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "OAuth "):
		if me, ok := s.verifyOAuth1(r, strings.TrimPrefix(h, "OAuth ")); ok {
			return authUser, me
		}
	case strings.HasPrefix(h, "Bearer "):
		tok := strings.TrimPrefix(h, "Bearer ")
		if s.cfg.BearerToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.BearerToken)) == 1 {
			return authBearer, s.primary()
		}
	}
	return authNone, s.primary()
}

// primary is the configured account (Config.UserID and its token).
func (s *Server) primary() Account { return s.byToken[s.cfg.AccessToken] }

// verifyOAuth1 rebuilds the signature base string of RFC 5849 section 3.4.1 and compares HMAC-SHA1,
// signed with the consumer secret and the secret of the user whose token the header names.
func (s *Server) verifyOAuth1(r *http.Request, header string) (Account, bool) {
	oauth := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Account{}, false
		}
		k, err1 := url.PathUnescape(k)
		v, err2 := url.PathUnescape(strings.Trim(v, `"`))
		if err1 != nil || err2 != nil {
			return Account{}, false
		}
		oauth[k] = v
	}
	sig := oauth["oauth_signature"]
	if sig == "" || oauth["oauth_signature_method"] != "HMAC-SHA1" ||
		!constEq(oauth["oauth_consumer_key"], s.cfg.ConsumerKey) {
		return Account{}, false
	}
	me, ok := s.byToken[oauth["oauth_token"]]
	if !ok {
		return Account{}, false
	}
	// Parameters: query, form body, and the oauth ones except the signature and realm.
	var pairs [][2]string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	if r.Body != nil && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return Account{}, false
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return Account{}, false
		}
		for k, vs := range form {
			for _, v := range vs {
				pairs = append(pairs, [2]string{k, v})
			}
		}
	}
	for k, v := range oauth {
		if k != "oauth_signature" && k != "realm" {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	enc := make([]string, len(pairs))
	for i, p := range pairs {
		enc[i] = percentEncode(p[0]) + "=" + percentEncode(p[1])
	}
	sort.Strings(enc)

	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	host := strings.ToLower(r.Host)
	if h, port, ok := strings.Cut(host, ":"); ok && (port == "80" || port == "443") {
		host = h
	}
	base := strings.ToUpper(r.Method) + "&" + percentEncode(scheme+"://"+host+r.URL.EscapedPath()) + "&" +
		percentEncode(strings.Join(enc, "&"))
	mac := hmac.New(sha1.New, []byte(percentEncode(s.cfg.ConsumerSecret)+"&"+percentEncode(me.AccessTokenSecret)))
	mac.Write([]byte(base))
	want := mac.Sum(nil)
	got, err := base64.StdEncoding.DecodeString(sig)
	return me, err == nil && hmac.Equal(got, want)
}

func constEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// percentEncode is RFC 3986 encoding with only unreserved characters left as they are.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}
