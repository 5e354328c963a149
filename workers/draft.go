package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/xbot/xbot/internal/llm"
)

// Drafter is what plan and reply need from the LLM: n post texts for a prompt, under the budget.
// Implemented over the budgeted client (internal/llm) by LLMDrafter.
type Drafter interface {
	Draft(ctx context.Context, req DraftRequest) (*Draft, error)
}

// DraftRequest is one LLM call.
type DraftRequest struct {
	Purpose   string // content_generation | reply_generation
	RequestID string
	System    string
	User      string
	N         int // texts wanted
	MaxTokens int
	// AccountID is the account the texts are for: its spend is counted apart and, with HasAccountBudget,
	// bound by AccountBudgetUSD (its budget_usd share of the day) as well as the fleet's daily cap.
	AccountID        int64
	AccountBudgetUSD float64
	HasAccountBudget bool
}

// Draft is the LLM's answer.
type Draft struct {
	Texts     []string
	RequestID string
}

// draft asks the Drafter for one account's texts, under the account's share of the budget.
func (d *Deps) draft(ctx context.Context, accountID int64, req DraftRequest) (*Draft, error) {
	req.AccountID, req.AccountBudgetUSD, req.HasAccountBudget = accountID, d.Config.AccountBudgetUSD, d.Config.HasAccountBudget
	return d.Drafter.Draft(ctx, req)
}

// retryAfter is the wait a retryable LLM error suggests, with a floor.
func retryAfter(d time.Duration) time.Duration { return max(d, 5*time.Second) }

// LLMDrafter drafts through the budgeted client with a strict JSON schema.
type LLMDrafter struct{ Client *llm.Client }

// draftOutput is the JSON the model must return.
type draftOutput struct {
	Posts []struct {
		Text string `json:"text"`
	} `json:"posts"`
}

func (l LLMDrafter) Draft(ctx context.Context, req DraftRequest) (*Draft, error) {
	schema, err := llm.SchemaFor[draftOutput]()
	if err != nil {
		return nil, fmt.Errorf("draft schema: %w", err)
	}
	out, _, err := llm.CompleteJSON[draftOutput](ctx, l.Client, llm.Request{
		Purpose: req.Purpose, RequestID: req.RequestID, System: req.System,
		User:      req.User + fmt.Sprintf("\nReturn JSON: {\"posts\":[{\"text\":\"...\"}]} with exactly %d item(s).", req.N),
		MaxTokens: req.MaxTokens, Schema: schema,
		AccountID: req.AccountID, AccountCapUSD: req.AccountBudgetUSD, HasAccountCap: req.HasAccountBudget,
	})
	if err != nil {
		return nil, err
	}
	d := &Draft{RequestID: req.RequestID}
	for _, p := range out.Posts {
		d.Texts = append(d.Texts, p.Text)
	}
	return d, nil
}
