// Package synth owns the local generator of synthetic posts: varied, template-built text for shadow mode
// when no LLM is available. Its output is always stored generation_source='synthetic' and never reaches
// real X. It imports nothing of xbot's.
package synth
