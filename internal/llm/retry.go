package llm

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryHint reads the server's wait: retry-after-ms, then retry-after (seconds or an HTTP date), then
// x-ratelimit-reset-requests / -tokens (durations such as 1s, 6m0s, 20ms) for the limit that ran out.
// The x-ratelimit-* headers count only on a 429: every other answer carries them as routine.
func retryHint(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	h := resp.Header
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("retry-after"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	reqReset := resetDuration(h.Get("x-ratelimit-reset-requests"))
	tokReset := resetDuration(h.Get("x-ratelimit-reset-tokens"))
	reqOut := h.Get("x-ratelimit-remaining-requests") == "0"
	tokOut := h.Get("x-ratelimit-remaining-tokens") == "0"
	switch {
	case reqOut && tokOut:
		return max(reqReset, tokReset)
	case reqOut:
		return reqReset
	case tokOut:
		return tokReset
	}
	return max(reqReset, tokReset)
}

func resetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}
