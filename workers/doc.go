// Package workers owns xbot's River workers, one file per job kind mirroring jobs/. Each worker declares
// the small interfaces it needs from outside services (X, the LLM), maps their failures to River outcomes
// (snooze, cancel, retry) in one place, and writes its rows and the next job in one transaction. Register
// adds every worker to a River Workers bundle; PeriodicJobs lists the leader's schedules. Imported by cmd only.
package workers
