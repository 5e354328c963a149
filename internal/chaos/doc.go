// Package chaos is the fleet's fault suite (issue: fleet reliability). Its test builds the real xbot
// binary and the LLM fake, runs the standalone simulator, the fake and three worker replicas as processes
// on a database of their own, and while decisions flow plan → post → analytics → learn it kills workers
// with SIGKILL, injects simulator faults, runs concurrent plans against a daily LLM cap and (with
// -chaos.full, on a throwaway PostgreSQL cluster) restarts PostgreSQL. Then it checks from the database
// that every decision was posted exactly once or finished unconfirmed/failed with a reason, that none is
// left hanging, that the LLM ledger stayed within the cap and matches api_usage, and that no configured
// secret appears in anything it captured.
//
//	go test -run TestChaos ./internal/chaos                         reduced (also inside make test)
//	go test -timeout 60m -run TestChaos ./internal/chaos -chaos.full the full run (make chaos)
//
// It owns only the harness and its tests. It imports no xbot package besides internal/llm/llmtest and
// internal/dbtest (for the server URL) and internal/gate (to check the fake's texts pass the gates): it
// drives the fleet the way an operator would, through processes, HTTP and SQL.
package chaos
