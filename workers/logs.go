package workers

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/telemetry"
)

// The design's log lines (DESIGN.md section 4). Message text is exact; values are also fields.

func logQueued(log *zap.Logger, prefix, what, decisionID string, at time.Time) {
	log.Info(fmt.Sprintf("[%s] ✅ %s queued decision_id=%s scheduled_at=%s", prefix, what, decisionID, telemetry.Time(at)),
		zap.String("decision_id", decisionID), zap.String("scheduled_at", telemetry.Time(at)))
}

func logGateBlocked(log *zap.Logger, gateName, decisionID, reason string) {
	log.Info(fmt.Sprintf("[GATE_CHAIN] ⛔ blocked gate=%s decision_id=%s reason=%s", gateName, decisionID, reason),
		zap.String("gate", gateName), zap.String("decision_id", decisionID), zap.String("reason", reason))
}

func logQuota(log *zap.Logger, prefix string) {
	log.Warn(fmt.Sprintf("[%s] OpenAI insufficient_quota → not queueing", prefix))
}

func logUnusable(log *zap.Logger, prefix string, err *llm.OutputError) {
	log.Warn(fmt.Sprintf("[%s] ⚠️ LLM answer unusable → not queueing reason=%s", prefix, err.Error()), zap.String("reason", err.Error()))
}

// logBudget is DESIGN's budget line for the plan or reply job. When the account's own share of the day
// (budget_usd) refused the call, spent and cap are the share's, and scope=account and account_id are fields
// (the message stays the exact line operators grep for).
func logBudget(log *zap.Logger, prefix string, e *llm.BudgetExhaustedError) {
	fields := []zap.Field{zap.Float64("spent", e.Spent), zap.Float64("cap", e.Cap)}
	if e.Scope == "account" {
		fields = append(fields, zap.String("scope", "account"), zap.Int64("account_id", e.AccountID))
	}
	log.Warn(fmt.Sprintf("[%s] ⚠️ OpenAI budget exhausted → not queueing spent=%.4f cap=%.4f", prefix, e.Spent, e.Cap), fields...)
}

func logFoundQueue(log *zap.Logger, n int) {
	log.Info(fmt.Sprintf("[POSTING_ORCHESTRATOR] 📋 Found %d decisions in queue", n), zap.Int("n", n))
}

func logPostingDisabled(log *zap.Logger, decisionID string) {
	log.Info(fmt.Sprintf("[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id=%s: POSTING_DISABLED=true", decisionID),
		zap.String("decision_id", decisionID))
}

func logPaused(log *zap.Logger, decisionID string, fleetWide bool) {
	scope := "account"
	if fleetWide {
		scope = "all"
	}
	log.Info(fmt.Sprintf("[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id=%s: paused (xbot pause, %s)", decisionID, scope),
		zap.String("decision_id", decisionID), zap.String("paused", scope))
}

func logQuiet(log *zap.Logger, decisionID, window string, until time.Time) {
	log.Info(fmt.Sprintf("[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id=%s: quiet hours (QUIET_HOURS=%s) until=%s", decisionID, window, telemetry.Time(until)),
		zap.String("decision_id", decisionID), zap.String("quiet_hours", window), zap.String("until", telemetry.Time(until)))
}

func logDraft(log *zap.Logger, prefix, decisionID string) {
	log.Info(fmt.Sprintf("[%s] draft stored for approval decision_id=%s", prefix, decisionID), zap.String("decision_id", decisionID))
}

func logPosted(log *zap.Logger, tweetID, decisionID string) {
	log.Info(fmt.Sprintf("[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id=%s decision_id=%s", tweetID, decisionID),
		zap.String("tweet_id", tweetID), zap.String("decision_id", decisionID))
}

func logUnconfirmed(log *zap.Logger, decisionID, reason string) {
	log.Warn(fmt.Sprintf("[POSTING_ORCHESTRATOR] ❓ Unconfirmed decision_id=%s reason=%s", decisionID, reason),
		zap.String("decision_id", decisionID), zap.String("reason", reason))
}

func logFailed(log *zap.Logger, decisionID, reason string) {
	log.Warn(fmt.Sprintf("[POSTING_ORCHESTRATOR] ❌ Failed decision_id=%s reason=%s", decisionID, reason),
		zap.String("decision_id", decisionID), zap.String("reason", reason))
}

func logFoundMetrics(log *zap.Logger, n int) {
	log.Info(fmt.Sprintf("[ANALYTICS_COLLECTOR] 📋 Found %d posts needing metrics", n), zap.Int("n", n))
}

func logStoredOutcome(log *zap.Logger, decisionID string, er float64) {
	log.Info(fmt.Sprintf("[ANALYTICS_COLLECTOR] ✅ Stored real outcome decision_id=%s ER=%s%%", decisionID, telemetry.Percent(er)),
		zap.String("decision_id", decisionID), zap.String("ER", telemetry.Percent(er)))
}

func logLearnSkipped(log *zap.Logger, need int) {
	log.Info(fmt.Sprintf("[LEARN_JOB] ⚠️ Training skipped: insufficient real outcomes (need %d)", need), zap.Int("need", need))
}

func logLearned(log *zap.Logger, armsTrained int, exploreRatio float64, version int) {
	log.Info(fmt.Sprintf("[LEARN_JOB] ✅ arms_trained=%d explore_ratio=%.3f coeffs_updated=v%d", armsTrained, exploreRatio, version),
		zap.Int("arms_trained", armsTrained), zap.Float64("explore_ratio", exploreRatio), zap.Int("version", version))
}
