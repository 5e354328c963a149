package llmtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/llm/llmtest"
)

func post(t *testing.T, url, key, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/chat/completions", bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out, resp.Header
}

func TestFakeRefusesWhatOpenAIRefuses(t *testing.T) {
	t.Parallel()
	s := llmtest.NewServer(t, llmtest.Options{APIKey: "sk-good-key-123456", Models: []string{"gpt-4o-mini"}})
	const key = "sk-good-key-123456"
	for name, tc := range map[string]struct {
		key, body string
		status    int
		code      any
		param     any
	}{
		"no key":                   {"", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, 401, nil, nil},
		"bad key":                  {"sk-bad-key-654321", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, 401, "invalid_api_key", nil},
		"not json":                 {key, `{"model":`, 400, nil, nil},
		"no model":                 {key, `{"messages":[{"role":"user","content":"hi"}]}`, 400, nil, nil},
		"unknown model":            {key, `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found", nil},
		"no messages":              {key, `{"model":"gpt-4o-mini"}`, 400, nil, nil},
		"empty messages":           {key, `{"model":"gpt-4o-mini","messages":[]}`, 400, "empty_array", "messages"},
		"bad role":                 {key, `{"model":"gpt-4o-mini","messages":[{"role":"robot","content":"hi"}]}`, 400, "invalid_value", "messages[0].role"},
		"temperature":              {key, `{"model":"gpt-4o-mini","temperature":2.5,"messages":[{"role":"user","content":"hi"}]}`, 400, "decimal_above_max_value", "temperature"},
		"max tokens 0":             {key, `{"model":"gpt-4o-mini","max_completion_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, 400, "integer_below_min_value", "max_completion_tokens"},
		"json_object without json": {key, `{"model":"gpt-4o-mini","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}`, 400, nil, "messages"},
		"strict schema missing required": {key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
			"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}}}`, 400, nil, "response_format"},
		"strict schema open object": {key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
			"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{},"required":[]}}}}`, 400, nil, "response_format"},
	} {
		status, body, _ := post(t, s.URL, tc.key, tc.body)
		require.Equal(t, tc.status, status, name)
		e, ok := body["error"].(map[string]any)
		require.True(t, ok, name)
		require.NotEmpty(t, e["message"], name)
		require.Equal(t, "invalid_request_error", e["type"], name)
		require.Equal(t, tc.code, e["code"], name)
		require.Equal(t, tc.param, e["param"], name)
		require.NotContains(t, e["message"], "sk-bad-key-654321", name)
	}
	require.Equal(t, 13, s.Requests())
	require.Empty(t, s.Accepted())
}

func TestFakeSpeaksTheWireFormat(t *testing.T) {
	t.Parallel()
	s := llmtest.NewServer(t, llmtest.Options{})
	s.Enqueue(llmtest.Response{Content: "hello", PromptTokens: 11, CompletionTokens: 2})
	status, body, hdr := post(t, s.URL, "", `{"model":"gpt-4o-mini","max_completion_tokens":50,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status)
	require.Equal(t, "chat.completion", body["object"])
	require.Equal(t, "gpt-4o-mini", body["model"])
	require.NotEmpty(t, body["id"])
	require.NotZero(t, body["created"])
	choice := body["choices"].([]any)[0].(map[string]any)
	require.Equal(t, "stop", choice["finish_reason"])
	require.EqualValues(t, 0, choice["index"])
	msg := choice["message"].(map[string]any)
	require.Equal(t, map[string]any{"role": "assistant", "content": "hello", "refusal": nil, "annotations": []any{}}, msg)
	usage := body["usage"].(map[string]any)
	require.EqualValues(t, 11, usage["prompt_tokens"])
	require.EqualValues(t, 2, usage["completion_tokens"])
	require.EqualValues(t, 13, usage["total_tokens"])
	require.Equal(t, "9999", hdr.Get("x-ratelimit-remaining-requests"))
	require.NotEmpty(t, hdr.Get("x-request-id"))

	acc := s.Accepted()
	require.Len(t, acc, 1)
	require.Equal(t, "be brief", acc[0].System())
	require.Equal(t, "hi", acc[0].User())
	require.Equal(t, 50, acc[0].MaxCompletionTokens)
}

// The real client decodes what the fake sends, errors included.
func TestFakeThroughOpenAIGo(t *testing.T) {
	t.Parallel()
	s := llmtest.NewServer(t, llmtest.Options{APIKey: "sk-k-0000000000"})
	c := openai.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey("sk-k-0000000000"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", MaxCompletionTokens: openai.Int(64),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}

	s.Enqueue(llmtest.Response{Content: "x", MaxUsage: true}, llmtest.InsufficientQuota(), llmtest.BillingHardLimit(),
		llmtest.RateLimited(1500*time.Millisecond), llmtest.Response{Refusal: "no"})
	comp, err := c.Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	require.EqualValues(t, 64, comp.Usage.CompletionTokens, "MaxUsage reports the request's max")
	require.Equal(t, "x", comp.Choices[0].Message.Content)

	var apiErr *openai.Error
	_, err = c.Chat.Completions.New(ctx, params)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, []any{429, "insufficient_quota", "insufficient_quota"}, []any{apiErr.StatusCode, apiErr.Code, apiErr.Type})
	_, err = c.Chat.Completions.New(ctx, params)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, []any{400, "billing_hard_limit_reached"}, []any{apiErr.StatusCode, apiErr.Code})
	_, err = c.Chat.Completions.New(ctx, params)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "rate_limit_exceeded", apiErr.Code)
	require.Equal(t, "1.5s", apiErr.Response.Header.Get("x-ratelimit-reset-requests"))
	require.Equal(t, "0", apiErr.Response.Header.Get("x-ratelimit-remaining-requests"))
	comp, err = c.Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	require.Equal(t, "no", comp.Choices[0].Message.Refusal)
	require.Equal(t, 5, s.Requests())
}

func TestFakeDefaultAnswerFitsTheSchema(t *testing.T) {
	t.Parallel()
	s := llmtest.NewServer(t, llmtest.Options{})
	status, body, _ := post(t, s.URL, "", `{"model":"m","messages":[{"role":"user","content":"hi"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object",
		"properties":{"posts":{"type":"array","items":{"type":"object","properties":{"text":{"type":"string"},"n":{"type":"integer"}},"required":["text","n"],"additionalProperties":false}}},
		"required":["posts"],"additionalProperties":false}}}}`)
	require.Equal(t, 200, status)
	content := body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	require.JSONEq(t, `{"posts":[{"text":"llmtest sample text","n":1}]}`, content)
}

func TestListenAndServeWithControlEndpoints(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- llmtest.ListenAndServe(ctx, "127.0.0.1:0", llmtest.Options{}, func(a net.Addr) { addrc <- a })
	}()
	base := "http://" + (<-addrc).String()

	resp, err := http.Post(base+"/_llmfake/enqueue", "application/json", bytes.NewBufferString(`[{"status":429,"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}]`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	status, body, _ := post(t, base+"/v1", "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 429, status)
	require.Equal(t, "insufficient_quota", body["error"].(map[string]any)["code"])
	status, _, _ = post(t, base+"/v1", "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status)

	resp, err = http.Get(base + "/_llmfake/stats")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.JSONEq(t, `{"requests":2,"accepted":2,"queued":0}`, string(b))

	cancel()
	require.NoError(t, <-done)
}

// variedPosts asks the fake for n posts under a strict schema and returns their texts and the response.
func variedPosts(t *testing.T, url string, n int) ([]string, map[string]any) {
	t.Helper()
	body := `{"model":"m","max_completion_tokens":900,"messages":[{"role":"user","content":"Write posts. Return JSON with exactly ` +
		strconv.Itoa(n) + ` item(s)."}],
		"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object",
		"properties":{"posts":{"type":"array","items":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}}},
		"required":["posts"],"additionalProperties":false}}}}`
	status, resp, _ := post(t, url, "", body)
	require.Equal(t, 200, status)
	content := resp["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	var out struct {
		Posts []struct {
			Text string `json:"text"`
		} `json:"posts"`
	}
	require.NoError(t, json.Unmarshal([]byte(content), &out))
	require.Len(t, out.Posts, n)
	texts := make([]string, n)
	for i, p := range out.Posts {
		texts[i] = p.Text
	}
	return texts, resp
}

func TestFakeVariedAnswersDifferAndFitTheSchema(t *testing.T) {
	t.Parallel()
	s := llmtest.NewServer(t, llmtest.Options{Varied: true, MaxUsage: true})
	seen := map[string]bool{}
	for range 2 {
		texts, resp := variedPosts(t, s.URL, 3)
		require.EqualValues(t, 900, resp["usage"].(map[string]any)["completion_tokens"])
		for _, text := range texts {
			require.NotContains(t, seen, text)
			require.Greater(t, len(text), 60)
			seen[text] = true
		}
	}
}

// noHistory is an account with nothing posted yet, for the gate chain.
type noHistory struct{}

func (noHistory) RecentTexts(context.Context, int64, time.Time) ([]string, error) { return nil, nil }
func (noHistory) TopicCounts(context.Context, int64, time.Time) (map[string]int, int, error) {
	return nil, 0, nil
}

// With FlawedShare the varied answers carry, at about that share and the same every run, a flaw that
// xbot's gate chain refuses; the others pass it.
func TestFakeFlawedShareFailsTheGates(t *testing.T) {
	t.Parallel()
	chain, err := gate.New(gate.Config{MinQualityScore: 0.6, UniquenessThreshold: 0.8, RotationMaxShare: 1,
		WeightedLength: utf8.RuneCountInString}, noHistory{})
	require.NoError(t, err)
	blocked := func(share float64) (int, []string) {
		s := llmtest.NewServer(t, llmtest.Options{Varied: true, FlawedShare: share})
		var cands []gate.Candidate
		var texts []string
		for range 10 {
			batch, _ := variedPosts(t, s.URL, 20)
			for _, text := range batch {
				cands = append(cands, gate.Candidate{Text: text})
				texts = append(texts, text)
			}
		}
		verdicts, err := chain.Check(context.Background(), 1, cands)
		require.NoError(t, err)
		n := 0
		for _, v := range verdicts {
			if !v.Passed {
				require.Contains(t, []string{gate.GateQuality, gate.GateSafety}, v.Gate, v.Reason)
				n++
			}
		}
		return n, texts
	}
	none, _ := blocked(0)
	require.Zero(t, none, "no flaws asked for: every varied draft passes")
	n, first := blocked(0.25)
	require.InDelta(t, 50, n, 15, "about a quarter of 200 drafts")
	again, second := blocked(0.25)
	require.Equal(t, n, again)
	require.Equal(t, first, second, "the same drafts every run")
}
