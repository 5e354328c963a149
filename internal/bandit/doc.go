// Package bandit owns xbot's learning arithmetic (DESIGN.md section 7, as revised by the learning
// issue): a Bayesian linear regression of the log engagement rate at the first reading on one-hot arms
// (topic, format, hook, hour bucket for posts; the reply model's own arms), with normal priors, every
// outcome weighted by its age (a half-life), a change test per arm on recent residuals, Thompson sampling
// from the joint posterior with each pick's propensity, the lifts shown in bandit_arms, the explore ratio,
// and the hour arm's slots.
//
// It is pure logic: randomness and time come from the caller. It imports nothing of xbot's and must never
// import store, workers or any database package; store turns rows into Observations and Posteriors back.
package bandit
