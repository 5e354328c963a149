package llm

import (
	"encoding/json"
	"math"
	"time"
)

// Price is a model's price in USD per one million tokens.
type Price struct {
	InputPerM  float64
	OutputPerM float64
}

// Per-message and per-reply token overheads of the chat format (generous upper bounds).
const (
	tokensPerMessage = 8
	tokensPerReply   = 8
	// tokensPerSchema covers the wrapper OpenAI puts around a response_format schema.
	tokensPerSchema = 32
)

// EstimatePromptTokens is a conservative upper bound of a request's prompt tokens: one token per byte
// (byte-level BPE never yields more tokens than bytes), plus the chat format's overheads, plus the
// schema's serialised size when one is sent.
func EstimatePromptTokens(system, user string, schema *Schema) int64 {
	n := int64(len(system)+len(user)) + 2*tokensPerMessage + tokensPerReply
	if schema != nil {
		b, _ := json.Marshal(schema.Schema)
		n += int64(len(b)+len(schema.Name)) + tokensPerSchema
	}
	return n
}

// Cost is the USD cost of the given token counts at p, rounded up to the ledger's 1e-8.
func (p Price) Cost(promptTokens, completionTokens int64) float64 {
	return ceilUSD(float64(promptTokens)*p.InputPerM/1e6 + float64(completionTokens)*p.OutputPerM/1e6)
}

// ceilUSD rounds up to 1e-8 USD (numeric(14,8)), ignoring float noise below that.
func ceilUSD(x float64) float64 {
	return math.Ceil(x*1e8-1e-4) / 1e8
}

// BudgetDay is the budget day of t in loc, as a date at midnight UTC (how Postgres stores a date).
func BudgetDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
