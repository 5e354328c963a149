package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// The operator's commands: fleet switches (pause, resume) and approvals (review, approve, reject).

type switchOpts struct {
	account, reason string
	clear           bool
}

func switchFlags(withClear bool) func(fs *flag.FlagSet) any {
	return func(fs *flag.FlagSet) any {
		o := &switchOpts{}
		fs.StringVar(&o.account, "account", "", "one account (id or handle); default: every account")
		fs.StringVar(&o.reason, "reason", "", "why, shown in xbot status and /api/metrics")
		if withClear {
			fs.BoolVar(&o.clear, "clear", false, "forget the stored switch instead: POSTING_DISABLED decides again")
		}
		return o
	}
}

func cmdPause() *command {
	return &command{
		summary: "stop posting fleet-wide or for one account (stored in Postgres; overrides POSTING_DISABLED; rows stay queued)",
		usage:   "[--account ID|HANDLE] [--reason TEXT]",
		flags:   switchFlags(false),
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			return setSwitch(ctx, m, e, opts.(*switchOpts), true)
		},
	}
}

func cmdResume() *command {
	return &command{
		summary: "allow posting fleet-wide or for one account (overrides POSTING_DISABLED=true until --clear)",
		usage:   "[--account ID|HANDLE] [--reason TEXT] [--clear]",
		flags:   switchFlags(true),
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			return setSwitch(ctx, m, e, opts.(*switchOpts), false)
		},
	}
}

func setSwitch(ctx context.Context, m *Main, e *env, o *switchOpts, paused bool) error {
	pool, err := e.db(ctx, m)
	if err != nil {
		return err
	}
	st := store.New(pool)
	var accountID int64
	scope := "every account"
	if o.account != "" {
		acct, err := st.FindAccount(ctx, pool, o.account)
		if err != nil {
			return &ExitError{Code: 1, Msg: "xbot: " + err.Error()}
		}
		accountID, scope = acct.ID, fmt.Sprintf("account %d (@%s)", acct.ID, acct.Handle)
	}
	switch {
	case o.clear:
		if err := st.ClearPostingSwitch(ctx, pool, accountID); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "posting switch cleared for %s: POSTING_DISABLED decides again\n", scope)
	case paused:
		if err := st.SetPostingSwitch(ctx, pool, accountID, true, o.reason); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "posting paused for %s: post jobs snooze and their rows stay queued; every worker obeys from its next post job\n", scope)
	default:
		if err := st.SetPostingSwitch(ctx, pool, accountID, false, o.reason); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "posting resumed for %s (overrides POSTING_DISABLED until xbot resume --clear); snoozed posts go out within POSTING_SNOOZE\n", scope)
	}
	return nil
}

// printSwitches is the pause section of xbot status.
func printSwitches(w io.Writer, sws []store.PostingSwitch) {
	fmt.Fprintln(w, "\nPOSTING SWITCHES (xbot pause/resume; they override POSTING_DISABLED)")
	if len(sws) == 0 {
		fmt.Fprintln(w, "(none: POSTING_DISABLED decides)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scope\tstate\tsince\treason")
	for _, s := range sws {
		scope, state := "all", "resumed"
		if s.AccountID != 0 {
			scope = fmt.Sprintf("account %d", s.AccountID)
		}
		if s.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", scope, state, telemetry.Time(s.SetAt), s.Reason)
	}
	tw.Flush()
}

// draft is one pending decision as review and /api/decisions show it.
type draft struct {
	DecisionID       string    `json:"decision_id"`
	AccountID        int64     `json:"account_id"`
	DecisionType     string    `json:"decision_type"`
	Content          string    `json:"content"`
	GenerationSource string    `json:"generation_source"`
	ScheduledAt      time.Time `json:"scheduled_at"`
	CreatedAt        time.Time `json:"created_at"`
	Topic            string    `json:"topic,omitempty"`
	Format           string    `json:"format,omitempty"`
	Hook             string    `json:"hook,omitempty"`
	QualityScore     *float64  `json:"quality_score,omitempty"`
	TargetTweetID    string    `json:"target_tweet_id,omitempty"`
	TargetUsername   string    `json:"target_username,omitempty"`
}

// maxDrafts bounds one listing.
const maxDrafts = 200

func pendingDrafts(ctx context.Context, pool *pgxpool.Pool) ([]draft, error) {
	ds, err := store.New(pool).PendingDrafts(ctx, pool, maxDrafts)
	if err != nil {
		return nil, err
	}
	out := make([]draft, 0, len(ds))
	for _, d := range ds {
		out = append(out, draft{
			DecisionID: d.DecisionID, AccountID: d.AccountID, DecisionType: d.DecisionType, Content: d.Content,
			GenerationSource: d.GenerationSource, ScheduledAt: d.ScheduledAt.UTC(), CreatedAt: d.CreatedAt.UTC(),
			Topic: d.Topic, Format: d.Format, Hook: d.Hook, QualityScore: d.QualityScore,
			TargetTweetID: d.TargetTweetID, TargetUsername: d.TargetUsername,
		})
	}
	return out, nil
}

type reviewOpts struct{ json bool }

func cmdReview() *command {
	return &command{
		summary: "list the drafts waiting for approval (pending_approval), oldest first",
		usage:   "[--json]",
		flags: func(fs *flag.FlagSet) any {
			o := &reviewOpts{}
			fs.BoolVar(&o.json, "json", false, "print JSON (as /api/decisions)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			ds, err := pendingDrafts(ctx, pool)
			if err != nil {
				return err
			}
			if opts.(*reviewOpts).json {
				return json.NewEncoder(m.Stdout).Encode(ds)
			}
			if len(ds) == 0 {
				fmt.Fprintln(m.Stdout, "no drafts waiting for approval")
				return nil
			}
			for _, d := range ds {
				what := "post"
				if d.DecisionType == "reply" {
					what = fmt.Sprintf("reply to @%s (post %s)", d.TargetUsername, d.TargetTweetID)
				}
				fmt.Fprintf(m.Stdout, "%s  %s  %s  scheduled %s\n", d.DecisionID, what, d.GenerationSource, telemetry.Time(d.ScheduledAt))
				fmt.Fprintf(m.Stdout, "    %s\n\n", strings.ReplaceAll(d.Content, "\n", "\n    "))
			}
			fmt.Fprintln(m.Stdout, "xbot approve ID... queues them; xbot reject ID... --reason TEXT skips them")
			return nil
		},
	}
}

// approvals builds the approval service over the database (an insert-only River client).
func approvals(ctx context.Context, m *Main, e *env) (*workers.Approvals, error) {
	pool, err := e.db(ctx, m)
	if err != nil {
		return nil, err
	}
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &workers.Approvals{Config: workerConfig(e.cfg, backend(e.cfg)), Store: store.New(pool), River: rc}, nil
}

func cmdApprove() *command {
	return &command{
		summary: "queue drafts waiting for approval: each gets its post job in the same transaction, at the later of its time and now, paced",
		usage:   "ID...",
		run: func(ctx context.Context, m *Main, e *env, _ any, args []string) error {
			return decide(ctx, m, e, "approve", args, func(a *workers.Approvals, id string) (string, error) {
				d, err := a.Approve(ctx, id)
				if err != nil {
					return "", err
				}
				return "approved: queued for " + telemetry.Time(d.ScheduledAt), nil
			})
		},
	}
}

type rejectOpts struct{ reason string }

func cmdReject() *command {
	return &command{
		summary: "skip drafts waiting for approval (status skipped, skip_reason 'rejected: REASON')",
		usage:   "--reason TEXT ID...",
		flags: func(fs *flag.FlagSet) any {
			o := &rejectOpts{}
			fs.StringVar(&o.reason, "reason", "", "why (required); may also follow the ids")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, args []string) error {
			// The flag package stops at the first id, so a --reason after the ids is taken here.
			reason := opts.(*rejectOpts).reason
			var ids []string
			for i := 0; i < len(args); i++ {
				switch a := args[i]; {
				case (a == "--reason" || a == "-reason") && i+1 < len(args):
					reason = args[i+1]
					i++
				case strings.HasPrefix(a, "--reason=") || strings.HasPrefix(a, "-reason="):
					_, reason, _ = strings.Cut(a, "=")
				default:
					ids = append(ids, a)
				}
			}
			if reason = strings.TrimSpace(reason); reason == "" {
				return &ExitError{Code: 2, Msg: "usage: xbot reject ID... --reason TEXT (a reason is required)"}
			}
			return decide(ctx, m, e, "reject", ids, func(a *workers.Approvals, id string) (string, error) {
				return "rejected", a.Reject(ctx, id, reason)
			})
		},
	}
}

// decide checks the ids, then runs do for each, one transaction each, printing one line per id; a row
// not pending or not found makes the exit code 1 after all ids were tried.
func decide(ctx context.Context, m *Main, e *env, cmd string, ids []string, do func(a *workers.Approvals, id string) (string, error)) error {
	if err := checkDecisionIDs(cmd, ids); err != nil {
		return err
	}
	a, err := approvals(ctx, m, e)
	if err != nil {
		return err
	}
	failed := 0
	for _, id := range ids {
		msg, err := do(a, id)
		var np *store.NotPendingError
		var rl *workers.ReplyLimitError
		switch {
		case err == nil:
			fmt.Fprintf(m.Stdout, "%s: %s\n", id, msg)
		case errors.As(err, &np), errors.As(err, &rl):
			failed++
			fmt.Fprintf(m.Stderr, "%s: %v\n", id, err)
		case errors.Is(err, store.ErrNotFound):
			failed++
			fmt.Fprintf(m.Stderr, "%s: no such decision\n", id)
		default:
			return err
		}
	}
	if failed > 0 {
		return &ExitError{Code: 1, Msg: fmt.Sprintf("xbot: %d of %d not done", failed, len(ids))}
	}
	return nil
}

func checkDecisionIDs(cmd string, ids []string) error {
	if len(ids) == 0 {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("usage: xbot %s ID... (decision ids from xbot review)", cmd)}
	}
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			return &ExitError{Code: 2, Msg: fmt.Sprintf("xbot %s: %q is not a decision id (a UUID from xbot review)", cmd, id)}
		}
	}
	return nil
}

// decisionsRoute serves /api/decisions: pending drafts as JSON, under the read-only page rule.
func (s *webServer) decisionsRoute() {
	drafts := newSnapshot(snapshotTTL, webStatementTimeout+2*time.Second, func(ctx context.Context) ([]draft, error) {
		return pendingDrafts(ctx, s.pool)
	})
	s.mux.Handle("GET /api/decisions", s.auth.page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := r.URL.Query().Get("status"); st != "" && st != store.StatusPendingApproval {
			http.Error(w, "only status=pending_approval is listed", http.StatusBadRequest)
			return
		}
		ds, err := drafts.get(r.Context())
		if err != nil {
			http.Error(w, "decisions unavailable: database unreachable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, ds)
	})))
}
