package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a fake server.
type Options struct {
	// APIKey, when set, must arrive as "Authorization: Bearer <APIKey>" (401 otherwise, as OpenAI).
	APIKey string
	// Models, when set, are the only models that exist (404 model_not_found otherwise).
	Models []string
	// Default answers requests when neither the queue nor a script does; nil: a valid answer.
	Default *Response
	// Now is the clock for "created"; default time.Now.
	Now func() time.Time
	// Varied makes the default answer differ per request: every string is a distinct sentence
	// (VariedText) and every array holds as many items as the prompt asks for ("exactly N item(s)"),
	// so a stream of answers passes a uniqueness gate.
	Varied bool
	// FlawedShare is the share of Varied strings that carry a flaw xbot's content gates refuse — a link, an
	// @handle or four hashtags, in turn — chosen by a hash of the request and item number, so a run's
	// rejections repeat; 0: none. It stands for drafts a real model gets wrong, at a rate the caller assumes.
	FlawedShare float64
	// MaxUsage makes default answers report completion tokens equal to the request's maximum, so each
	// call costs what the client reserved for it.
	MaxUsage bool
}

// APIError is OpenAI's error object. Empty Code or Param are sent as null.
type APIError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	Param   string `json:"param,omitempty"`
}

// Response is one scripted answer.
type Response struct {
	Status       int    `json:"status,omitempty"`  // 0: 200, or 400 when Error is set
	Content      string `json:"content,omitempty"` // the assistant message
	JSON         any    `json:"json,omitempty"`    // marshalled into Content when set
	Refusal      string `json:"refusal,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"` // default "stop"
	// PromptTokens and CompletionTokens override the usage the fake computes (about 4 bytes a token).
	PromptTokens     int `json:"prompt_tokens,omitempty"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	// MaxUsage reports completion_tokens equal to the request's max completion tokens.
	MaxUsage bool              `json:"max_usage,omitempty"`
	Error    *APIError         `json:"error,omitempty"`
	Header   map[string]string `json:"header,omitempty"`
	// Delay holds the answer back (nanoseconds on the wire); a client that gives up first sees no answer.
	Delay time.Duration `json:"delay,omitempty"`
	// RawBody is written verbatim instead of a completion (for broken or truncated bodies).
	RawBody string `json:"raw_body,omitempty"`
	// Hangup closes the connection without any answer.
	Hangup bool `json:"hangup,omitempty"`
}

// Message is one chat message of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is a request the fake accepted, decoded.
type Request struct {
	Model               string
	Messages            []Message
	MaxCompletionTokens int // max_completion_tokens, or max_tokens; 0 when absent
	Temperature         *float64
	TopP                *float64
	ResponseFormat      string         // "", text, json_object or json_schema
	SchemaName          string         // json_schema only
	Schema              map[string]any // json_schema only
	ClientRequestID     string         // X-Client-Request-Id
	Body                []byte
}

// System is the first system (or developer) message.
func (r Request) System() string {
	for _, m := range r.Messages {
		if m.Role == "system" || m.Role == "developer" {
			return m.Content
		}
	}
	return ""
}

// User is the last user message.
func (r Request) User() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Handler is the fake as an http.Handler. Safe for concurrent use.
type Handler struct {
	opts Options

	mu       sync.Mutex
	queue    []Response
	script   func(Request) Response
	requests int // every request to the chat completions path, accepted or not
	accepted []Request
	seq      int
}

// NewHandler returns a fake with opts.
func NewHandler(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts}
}

// Enqueue adds answers for the next requests, in order; they take precedence over the script.
func (h *Handler) Enqueue(rs ...Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue = append(h.queue, rs...)
}

// Script sets the function that answers each accepted request when the queue is empty.
func (h *Handler) Script(fn func(Request) Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.script = fn
}

// Requests is how many requests reached the chat completions endpoint (refused ones included).
func (h *Handler) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// Accepted returns the requests that passed validation, in arrival order.
func (h *Handler) Accepted() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.accepted)
}

// Reset forgets the queue, the script and the counts.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue, h.script, h.requests, h.accepted = nil, nil, 0, nil
}

// Server is a fake on a local port.
type Server struct {
	*Handler
	// URL is the API base URL to give the client (OPENAI_BASE_URL), ending in /v1.
	URL  string
	http *httptest.Server
}

// NewServer starts a fake that is closed when the test ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	h := NewHandler(opts)
	hs := httptest.NewServer(h)
	tb.Cleanup(hs.Close)
	return &Server{Handler: h, URL: hs.URL + "/v1", http: hs}
}

// ListenAndServe runs a fake on addr until ctx ends. Besides the API it serves control endpoints for a
// test driving it from another process: POST /_llmfake/enqueue (a JSON array of Response),
// GET /_llmfake/stats ({"requests":n,"accepted":n}) and POST /_llmfake/reset.
func ListenAndServe(ctx context.Context, addr string, opts Options, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("llmtest: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: NewHandler(opts), ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("llmtest: serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("llmtest: shutdown: %w", err)
		}
		return nil
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_llmfake/enqueue" && r.Method == http.MethodPost:
		var rs []Response
		if err := json.NewDecoder(r.Body).Decode(&rs); err != nil {
			http.Error(w, "want a JSON array of responses: "+err.Error(), http.StatusBadRequest)
			return
		}
		h.Enqueue(rs...)
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/_llmfake/stats":
		h.mu.Lock()
		body := map[string]int{"requests": h.requests, "accepted": len(h.accepted), "queued": len(h.queue)}
		h.mu.Unlock()
		writeJSON(w, http.StatusOK, body, nil)
		return
	case r.URL.Path == "/_llmfake/reset" && r.Method == http.MethodPost:
		h.Reset()
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/v1/chat/completions" || r.URL.Path == "/chat/completions":
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, APIError{Message: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), Type: "invalid_request_error"}, nil)
			return
		}
		h.chat(w, r)
		return
	}
	writeError(w, http.StatusNotFound, APIError{Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), Type: "invalid_request_error"}, nil)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	h.mu.Unlock()
	if h.opts.APIKey != "" {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		switch {
		case !ok || key == "":
			writeError(w, http.StatusUnauthorized, APIError{Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", Type: "invalid_request_error"}, nil)
			return
		case key != h.opts.APIKey:
			writeError(w, http.StatusUnauthorized, APIError{Message: "Incorrect API key provided: " + maskKey(key) + ".", Type: "invalid_request_error", Code: "invalid_api_key"}, nil)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, APIError{Message: "We could not read the body of your request.", Type: "invalid_request_error"}, nil)
		return
	}
	req, apiErr, status := parseRequest(body, h.opts.Models)
	if apiErr != nil {
		writeError(w, status, *apiErr, nil)
		return
	}
	req.ClientRequestID = r.Header.Get("X-Client-Request-Id")

	h.mu.Lock()
	h.accepted = append(h.accepted, req)
	h.seq++
	seq := h.seq
	var resp Response
	switch {
	case len(h.queue) > 0:
		resp, h.queue = h.queue[0], h.queue[1:]
	case h.script != nil:
		script := h.script
		h.mu.Unlock()
		resp = script(req)
		h.mu.Lock()
	case h.opts.Default != nil:
		resp = *h.opts.Default
	}
	h.mu.Unlock()
	if resp.Content == "" && resp.JSON == nil && resp.Refusal == "" && resp.Error == nil && resp.RawBody == "" {
		resp.MaxUsage = resp.MaxUsage || h.opts.MaxUsage
		if h.opts.Varied {
			resp.JSON = variedContent(req, seq, h.opts.FlawedShare)
		} else {
			resp.JSON = defaultContent(req) // a script that only shapes usage or timing still gets a valid answer
		}
		if resp.JSON == nil {
			resp.Content = "llmtest sample text"
		}
	}

	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if resp.Hangup {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	hdr := rateLimitHeaders(seq)
	for k, v := range resp.Header {
		hdr[k] = v
	}
	if resp.RawBody != "" {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(cmpInt(resp.Status, http.StatusOK))
		_, _ = io.WriteString(w, resp.RawBody)
		return
	}
	if resp.Error != nil {
		writeError(w, cmpInt(resp.Status, http.StatusBadRequest), *resp.Error, hdr)
		return
	}
	writeJSON(w, cmpInt(resp.Status, http.StatusOK), h.completion(req, resp, seq), hdr)
}

func (h *Handler) completion(req Request, resp Response, seq int) map[string]any {
	content := resp.Content
	if resp.JSON != nil {
		b, err := json.Marshal(resp.JSON)
		if err != nil {
			content = fmt.Sprintf("llmtest: cannot marshal scripted JSON: %v", err)
		} else {
			content = string(b)
		}
	}
	completion := resp.CompletionTokens
	switch {
	case resp.MaxUsage && req.MaxCompletionTokens > 0:
		completion = req.MaxCompletionTokens
	case completion == 0:
		completion = max(1, (len(content)+len(resp.Refusal)+3)/4)
		if req.MaxCompletionTokens > 0 {
			completion = min(completion, req.MaxCompletionTokens)
		}
	}
	prompt := cmpInt(resp.PromptTokens, promptTokens(req))
	msg := map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}}
	if resp.Refusal != "" {
		msg["content"], msg["refusal"] = nil, resp.Refusal
	}
	return map[string]any{
		"id":      fmt.Sprintf("chatcmpl-llmtest%06d", seq),
		"object":  "chat.completion",
		"created": h.opts.Now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index": 0, "message": msg, "logprobs": nil, "finish_reason": cmpStr(resp.FinishReason, "stop"),
		}},
		"usage": map[string]any{
			"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
			"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
			"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
		},
		"service_tier":       "default",
		"system_fingerprint": "fp_llmtest",
	}
}

// promptTokens approximates a tokenizer: about four bytes a token, plus the chat format's overheads.
func promptTokens(req Request) int {
	n := 3
	for _, m := range req.Messages {
		n += 4 + (len(m.Content)+3)/4
	}
	if req.Schema != nil {
		b, _ := json.Marshal(req.Schema)
		n += 10 + (len(b)+3)/4
	}
	return n
}

var schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type wireRequest struct {
	Model               *string           `json:"model"`
	Messages            []json.RawMessage `json:"messages"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	MaxTokens           *int              `json:"max_tokens"`
	Temperature         *float64          `json:"temperature"`
	TopP                *float64          `json:"top_p"`
	N                   *int              `json:"n"`
	Stream              bool              `json:"stream"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Strict bool           `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func invalid(param, code, format string, args ...any) (Request, *APIError, int) {
	return Request{}, &APIError{Message: fmt.Sprintf(format, args...), Type: "invalid_request_error", Param: param, Code: code}, http.StatusBadRequest
}

func parseRequest(body []byte, models []string) (Request, *APIError, int) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return invalid("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	if w.Model == nil || *w.Model == "" {
		return invalid("", "", "you must provide a model parameter")
	}
	if len(models) > 0 && !slices.Contains(models, *w.Model) {
		return Request{}, &APIError{Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", *w.Model), Type: "invalid_request_error", Code: "model_not_found"}, http.StatusNotFound
	}
	if w.Messages == nil {
		return invalid("", "", "Missing required parameter: 'messages'.")
	}
	if len(w.Messages) == 0 {
		return invalid("messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	if w.Stream {
		return invalid("stream", "", "llmtest does not stream")
	}
	req := Request{Model: *w.Model, Temperature: w.Temperature, TopP: w.TopP, Body: body}
	for i, raw := range w.Messages {
		var m struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return invalid(fmt.Sprintf("messages[%d]", i), "", "Invalid type for 'messages[%d]': expected an object.", i)
		}
		if !slices.Contains([]string{"system", "developer", "user", "assistant", "tool"}, m.Role) {
			return invalid(fmt.Sprintf("messages[%d].role", i), "invalid_value", "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function', and 'developer'.", m.Role)
		}
		var text string
		if err := json.Unmarshal(m.Content, &text); err != nil {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(m.Content, &parts); err != nil || len(m.Content) == 0 {
				return invalid(fmt.Sprintf("messages[%d].content", i), "", "Missing required parameter: 'messages[%d].content'.", i)
			}
			for _, p := range parts {
				text += p.Text
			}
		}
		req.Messages = append(req.Messages, Message{Role: m.Role, Content: text})
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 2) {
		return invalid("temperature", "decimal_above_max_value", "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %v instead.", *w.Temperature)
	}
	if w.TopP != nil && (*w.TopP < 0 || *w.TopP > 1) {
		return invalid("top_p", "decimal_above_max_value", "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got %v instead.", *w.TopP)
	}
	if w.N != nil && *w.N != 1 {
		return invalid("n", "", "llmtest answers n=1 only")
	}
	switch {
	case w.MaxCompletionTokens != nil && w.MaxTokens != nil:
		return invalid("max_tokens", "", "max_tokens and max_completion_tokens cannot both be set")
	case w.MaxCompletionTokens != nil:
		req.MaxCompletionTokens = *w.MaxCompletionTokens
	case w.MaxTokens != nil:
		req.MaxCompletionTokens = *w.MaxTokens
	}
	if (w.MaxCompletionTokens != nil || w.MaxTokens != nil) && req.MaxCompletionTokens < 1 {
		return invalid("max_completion_tokens", "integer_below_min_value", "Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", req.MaxCompletionTokens)
	}
	if rf := w.ResponseFormat; rf != nil {
		req.ResponseFormat = rf.Type
		switch rf.Type {
		case "text":
		case "json_object":
			mentions := false
			for _, m := range req.Messages {
				mentions = mentions || strings.Contains(strings.ToLower(m.Content), "json")
			}
			if !mentions {
				return invalid("messages", "", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
			}
		case "json_schema":
			if rf.JSONSchema == nil {
				return invalid("response_format.json_schema", "", "Missing required parameter: 'response_format.json_schema'.")
			}
			if !schemaName.MatchString(rf.JSONSchema.Name) {
				return invalid("response_format.json_schema.name", "invalid_value", "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.")
			}
			if rf.JSONSchema.Strict {
				if err := checkStrict(rf.JSONSchema.Schema, "()"); err != nil {
					return invalid("response_format", "", "Invalid schema for response_format '%s': %v", rf.JSONSchema.Name, err)
				}
			}
			req.SchemaName, req.Schema = rf.JSONSchema.Name, rf.JSONSchema.Schema
		default:
			return invalid("response_format.type", "invalid_value", "Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", rf.Type)
		}
	}
	return req, nil, 0
}

// checkStrict enforces the structured-outputs rules a strict schema must follow: the root is an object,
// and every object forbids additional properties and requires all of its properties.
func checkStrict(s map[string]any, ctx string) error {
	if s == nil {
		return errors.New("schema must be a JSON Schema of 'type: \"object\"', got 'type: \"None\"'")
	}
	if ctx == "()" && s["type"] != "object" {
		return fmt.Errorf("schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%v\"'", s["type"])
	}
	switch s["type"] {
	case "object":
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return fmt.Errorf("In context=%s, 'additionalProperties' is required to be supplied and to be false", ctx)
		}
		props, _ := s["properties"].(map[string]any)
		req := map[string]bool{}
		if list, ok := s["required"].([]any); ok {
			for _, r := range list {
				if name, ok := r.(string); ok {
					req[name] = true
				}
			}
		}
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !req[k] {
				return fmt.Errorf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'", ctx, k)
			}
			sub, ok := props[k].(map[string]any)
			if !ok {
				return fmt.Errorf("In context=%s, property '%s' must be a schema object", ctx, k)
			}
			if err := checkStrict(sub, fmt.Sprintf("('properties', '%s')", k)); err != nil {
				return err
			}
		}
	case "array":
		if items, ok := s["items"].(map[string]any); ok {
			return checkStrict(items, ctx+", 'items'")
		}
	}
	return nil
}

// schemaMarker is how internal/llm puts the schema into the prompt in json_object mode.
const schemaMarker = "matches this JSON schema exactly:\n"

// defaultContent is a valid answer for the request: an instance of its schema, or a sentence.
func defaultContent(req Request) any {
	schema := req.Schema
	if schema == nil && req.ResponseFormat == "json_object" {
		for _, m := range req.Messages {
			if _, after, ok := strings.Cut(m.Content, schemaMarker); ok {
				_ = json.Unmarshal([]byte(after), &schema)
			}
		}
		if schema == nil {
			return map[string]any{}
		}
	}
	if schema == nil {
		return nil
	}
	return Instance(schema)
}

// Instance builds a value that satisfies a schema (strings "llmtest sample text", numbers 0.5,
// integers 1, arrays of one item).
func Instance(schema map[string]any) any {
	switch schema["type"] {
	case "object":
		props, _ := schema["properties"].(map[string]any)
		out := map[string]any{}
		for k, v := range props {
			if sub, ok := v.(map[string]any); ok {
				out[k] = Instance(sub)
			}
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		if items == nil {
			return []any{}
		}
		return []any{Instance(items)}
	case "string":
		return "llmtest sample text"
	case "integer":
		return 1
	case "number":
		return 0.5
	case "boolean":
		return true
	}
	return nil
}

func rateLimitHeaders(seq int) map[string]string {
	return map[string]string{
		"x-request-id":                   fmt.Sprintf("req_llmtest%06d", seq),
		"openai-processing-ms":           "1",
		"x-ratelimit-limit-requests":     "10000",
		"x-ratelimit-remaining-requests": "9999",
		"x-ratelimit-reset-requests":     "6ms",
		"x-ratelimit-limit-tokens":       "200000",
		"x-ratelimit-remaining-tokens":   "199000",
		"x-ratelimit-reset-tokens":       "300ms",
	}
}

func writeJSON(w http.ResponseWriter, status int, body any, hdr map[string]string) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, e APIError, hdr map[string]string) {
	var code, param any
	if e.Code != "" {
		code = e.Code
	}
	if e.Param != "" {
		param = e.Param
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": e.Message, "type": e.Type, "param": param, "code": code}}, hdr)
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:3] + "*****" + k[len(k)-4:]
}

func cmpInt(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

func cmpStr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
