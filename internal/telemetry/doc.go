// Package telemetry owns how xbot reports on itself: the zap logger (json or console, to stdout, times
// in RFC3339 UTC) and the time format of the design's log lines. It imports nothing of xbot's.
package telemetry
