package llm_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
)

func TestSchemaForIsStrict(t *testing.T) {
	t.Parallel()
	s, err := llm.SchemaFor[drafts]()
	require.NoError(t, err)
	require.Equal(t, "drafts", s.Name)
	b, err := json.Marshal(s.Schema)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"object","additionalProperties":false,"required":["posts"],"properties":{"posts":{"type":"array","items":
		{"type":"object","additionalProperties":false,"required":["text","topic","score","tags","meta"],"properties":{
		"text":{"type":"string","description":"the post, at most 280 characters"},"topic":{"type":"string"},"score":{"type":"number"},
		"tags":{"type":"array","items":{"type":"string"}},
		"meta":{"type":"object","additionalProperties":false,"required":["hook","chars"],"properties":{"hook":{"type":"string"},"chars":{"type":"integer"}}}}}}}}`, string(b))

	// What the fake synthesises for the schema decodes and validates.
	inst, err := json.Marshal(llmtest.Instance(s.Schema))
	require.NoError(t, err)
	got, err := llm.Decode[drafts](s, string(inst))
	require.NoError(t, err)
	require.Len(t, got.Posts, 1)
}

func TestSchemaForRefusesWhatStrictModeCannotSay(t *testing.T) {
	t.Parallel()
	_, err := llm.SchemaFor[struct{ M map[string]string }]()
	require.Error(t, err)
	_, err = llm.SchemaFor[struct{ A any }]()
	require.Error(t, err)
	_, err = llm.SchemaFor[[]string]()
	require.Error(t, err)
	type node struct{ Next *node }
	_, err = llm.SchemaFor[node]()
	require.Error(t, err)
}

func TestDecodeRejectsInsteadOfPatching(t *testing.T) {
	t.Parallel()
	s, err := llm.SchemaFor[struct {
		N int    `json:"n"`
		S string `json:"s"`
	}]()
	require.NoError(t, err)
	for _, bad := range []string{``, `{"n":1}`, `{"n":1.5,"s":"x"}`, `{"n":"1","s":"x"}`, `{"n":1,"s":"x","t":0}`, `[1]`, `{"n":1,"s":"x"}x`, `{"n":99999999999999999999,"s":"x"}`} {
		_, err := llm.Decode[struct {
			N int    `json:"n"`
			S string `json:"s"`
		}](s, bad)
		require.ErrorIs(t, err, llm.ErrInvalidOutput, bad)
	}
}

func TestEstimateIsAnUpperBound(t *testing.T) {
	t.Parallel()
	s, err := llm.SchemaFor[drafts]()
	require.NoError(t, err)
	b, err := json.Marshal(s.Schema)
	require.NoError(t, err)
	sys, user := "You write posts.", "Write one post about Go — with ünïcödé."
	n := llm.EstimatePromptTokens(sys, user, s)
	require.GreaterOrEqual(t, n, int64(len(sys)+len(user)+len(b)), "at least one token per byte")
	p := llm.Price{InputPerM: 0.15, OutputPerM: 0.60}
	require.InDelta(t, 0.00018, p.Cost(0, 300), 1e-12)
	require.InDelta(t, 0.00000015, p.Cost(1, 0), 1e-12)
}
