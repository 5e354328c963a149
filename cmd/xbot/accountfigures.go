package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

// accountMetrics is one account's figures with its LLM spend of the budget day and its share of it.
type accountMetrics struct {
	store.AccountFigures
	LLMSpentUSD    float64 `json:"llm_spent_usd"`
	LLMReservedUSD float64 `json:"llm_reserved_usd"`
	// LLMRefused counts the day's calls for it refused by a cap (its share or the day's).
	LLMRefused int `json:"llm_refused"`
	// LLMShareUSD is its budget_usd; absent: only the day's cap binds it.
	LLMShareUSD *float64 `json:"llm_share_usd,omitempty"`
}

// accountsMetrics reads every account's figures and adds up the fleet's totals (AccountID 0, no
// handle; the LLM totals are what accounts spent, calls made for no account excluded).
func accountsMetrics(ctx context.Context, cfg *config.Config, st *store.Store, spend []llm.AccountBudget) ([]accountMetrics, accountMetrics, error) {
	total := accountMetrics{AccountFigures: store.AccountFigures{Decisions: map[string]int64{}}}
	figs, err := st.AccountsFigures(ctx, st.Pool)
	if err != nil {
		return nil, total, err
	}
	accts, err := st.ListAccounts(ctx, st.Pool)
	if err != nil {
		return nil, total, err
	}
	shares := map[int64]float64{}
	for _, a := range accts {
		if s, ok := accountShare(cfg, a); ok {
			shares[a.ID] = s
		}
	}
	byID := map[int64]llm.AccountBudget{}
	for _, b := range spend {
		byID[b.AccountID] = b
	}
	out := make([]accountMetrics, 0, len(figs))
	for _, f := range figs {
		b := byID[f.AccountID]
		am := accountMetrics{AccountFigures: *f, LLMSpentUSD: b.Spent, LLMReservedUSD: b.Reserved, LLMRefused: b.Refused}
		if s, ok := shares[f.AccountID]; ok {
			am.LLMShareUSD = &s
		}
		out = append(out, am)
		for k, n := range f.Decisions {
			total.Decisions[k] += n
		}
		total.Posted24h += f.Posted24h
		total.PostedTotal += f.PostedTotal
		total.LLMSpentUSD += b.Spent
		total.LLMReservedUSD += b.Reserved
		total.LLMRefused += b.Refused
		total.XCircuitOpen = total.XCircuitOpen || f.XCircuitOpen
	}
	return out, total, nil
}

// decisionsText is an account's decisions by status, in name order ("posted=3 queued=2"); "-" for none.
func decisionsText(d map[string]int64) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, d[k])
	}
	return orDash(strings.Join(parts, " "))
}

// LLMUsedUSD is the day's spend and open reservations.
func (a accountMetrics) LLMUsedUSD() float64 { return a.LLMSpentUSD + a.LLMReservedUSD }

// ShareText is an account's LLM spend of the day against its share ("0.0012 of 0.5000").
func (a accountMetrics) ShareText() string {
	if a.LLMShareUSD == nil {
		return fmt.Sprintf("%.4f (day cap)", a.LLMSpentUSD+a.LLMReservedUSD)
	}
	s := fmt.Sprintf("%.4f of %.4f", a.LLMSpentUSD+a.LLMReservedUSD, *a.LLMShareUSD)
	if a.LLMRefused > 0 {
		s += " EXHAUSTED"
	}
	return s
}

// StateText is what holds an account's posting back: disabled, paused, its X circuit; "ok" otherwise.
func (a accountMetrics) StateText() string {
	var s []string
	if a.Status == store.AccountDisabled {
		s = append(s, "disabled")
	}
	if a.Paused {
		s = append(s, "paused")
	}
	if a.XCircuitOpen {
		s = append(s, "x-circuit-open")
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, ",")
}

// printAccounts is xbot status's ACCOUNTS table: one row per account and the totals.
func printAccounts(w io.Writer, rows []accountMetrics, total accountMetrics) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nACCOUNTS\t\t\t\t\t\t")
	fmt.Fprintln(tw, "id\thandle\tstate\tdecisions\tposted_24h\tposted\tllm_usd_today")
	for _, a := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", a.AccountID, handleText(a.Handle), a.StateText(), decisionsText(a.Decisions),
			a.Posted24h, a.PostedTotal, a.ShareText())
	}
	fmt.Fprintf(tw, "total\t%d accounts\t\t%s\t%d\t%d\t%.4f\n", len(rows), decisionsText(total.Decisions), total.Posted24h,
		total.PostedTotal, total.LLMUsedUSD())
	tw.Flush()
}

func handleText(h string) string {
	if h == "" {
		return "-"
	}
	return "@" + h
}
