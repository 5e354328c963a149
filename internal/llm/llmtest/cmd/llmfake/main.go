// Command llmfake runs the fake OpenAI server of package llmtest as a process, for the fault suite.
//
//	llmfake -addr 127.0.0.1:0 -api-key sk-test -mode ok
//
// It prints "llmfake listening on http://HOST:PORT/v1" once it accepts connections, and stops on
// SIGINT or SIGTERM. -mode sets the answer when nothing is scripted: ok, varied (a different valid
// answer each time, as many items as the prompt asks for), insufficient_quota, billing_hard_limit,
// rate_limited, server_error, slow, max_usage. -max-usage makes default answers cost what was reserved. Scripts arrive at
// POST /_llmfake/enqueue; counts at GET /_llmfake/stats.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xbot/xbot/internal/llm/llmtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "llmfake:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("llmfake", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	key := fs.String("api-key", "", "API key requests must carry (empty: any)")
	models := fs.String("models", "", "comma-separated models that exist (empty: any)")
	mode := fs.String("mode", "ok", "default answer: ok|varied|insufficient_quota|billing_hard_limit|rate_limited|server_error|slow|max_usage")
	maxUsage := fs.Bool("max-usage", false, "default answers report the request's maximum completion tokens")
	delay := fs.Duration("delay", 5*time.Second, "delay of -mode slow")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := llmtest.Options{APIKey: *key, MaxUsage: *maxUsage}
	if *models != "" {
		opts.Models = strings.Split(*models, ",")
	}
	var def llmtest.Response
	switch *mode {
	case "ok":
	case "varied":
		opts.Varied = true
	case "insufficient_quota":
		def = llmtest.InsufficientQuota()
	case "billing_hard_limit":
		def = llmtest.BillingHardLimit()
	case "rate_limited":
		def = llmtest.RateLimited(2 * time.Second)
	case "server_error":
		def = llmtest.ServerError(http.StatusInternalServerError)
	case "slow":
		def = llmtest.Response{Delay: *delay}
	case "max_usage":
		def = llmtest.Response{MaxUsage: true}
	default:
		return fmt.Errorf("-mode %q: ok, varied, insufficient_quota, billing_hard_limit, rate_limited, server_error, slow or max_usage", *mode)
	}
	if *mode != "ok" && *mode != "varied" {
		opts.Default = &def
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return llmtest.ListenAndServe(ctx, *addr, opts, func(a net.Addr) {
		fmt.Printf("llmfake listening on http://%s/v1\n", a)
	})
}
