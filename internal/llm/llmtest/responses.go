package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Text answers with plain content.
func Text(s string) Response { return Response{Content: s} }

// JSON answers with v marshalled as the content.
func JSON(v any) Response { return Response{JSON: v} }

// InsufficientQuota is OpenAI's answer when the account has no credit: 429 with code insufficient_quota.
func InsufficientQuota() Response {
	return Response{Status: http.StatusTooManyRequests, Error: &APIError{
		Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
		Type:    "insufficient_quota", Code: "insufficient_quota",
	}}
}

// BillingHardLimit is OpenAI's answer when the organisation's hard limit is reached: a 400.
func BillingHardLimit() Response {
	return Response{Status: http.StatusBadRequest, Error: &APIError{
		Message: "Billing hard limit has been reached", Type: "invalid_request_error", Code: "billing_hard_limit_reached",
	}}
}

// RateLimited is a 429 rate_limit_exceeded with the request limit exhausted until reset.
func RateLimited(reset time.Duration) Response {
	return Response{Status: http.StatusTooManyRequests,
		Error: &APIError{Message: fmt.Sprintf("Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in %s.", reset), Type: "requests", Code: "rate_limit_exceeded"},
		Header: map[string]string{
			"x-ratelimit-limit-requests":     "3",
			"x-ratelimit-remaining-requests": "0",
			"x-ratelimit-reset-requests":     reset.String(),
		}}
}

// RetryAfter is a 429 rate_limit_exceeded carrying retry-after in seconds.
func RetryAfter(seconds int) Response {
	r := RateLimited(time.Duration(seconds) * time.Second)
	r.Header["retry-after"] = strconv.Itoa(seconds)
	return r
}

// ServerError is a 5xx with OpenAI's server_error body.
func ServerError(status int) Response {
	return Response{Status: status, Error: &APIError{
		Message: "The server had an error while processing your request. Sorry about that!", Type: "server_error",
	}}
}

// Slow answers after d.
func Slow(d time.Duration, r Response) Response {
	r.Delay = d
	return r
}

// Refusal is the model declining: message.refusal set, content null, finish_reason stop.
func Refusal(reason string) Response { return Response{Refusal: reason} }

// TruncatedJSON is v's JSON cut off halfway, as a model that stops mid-answer sends it (finish_reason stop).
func TruncatedJSON(v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{Content: fmt.Sprintf("llmtest: cannot marshal: %v", err)}
	}
	return Response{Content: string(b[:len(b)/2])}
}

// MaxTokensCut is an answer stopped at the request's max tokens: v's JSON cut off, finish_reason length,
// and completion_tokens equal to the maximum the request allowed.
func MaxTokensCut(v any) Response {
	r := TruncatedJSON(v)
	r.FinishReason, r.MaxUsage = "length", true
	return r
}
