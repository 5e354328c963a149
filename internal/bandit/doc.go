// Package bandit owns xbot's learning arithmetic (DESIGN.md section 7): Beta-Bernoulli Thompson sampling
// with one bandit per dimension (topic, format, hook, hour bucket, reply), the propensity of each pick,
// the discounted posterior update, the reward rule, the explore ratio, and the hour arm's next slot.
//
// It is pure logic: randomness and time come from the caller. It imports nothing of xbot's and must never
// import store, workers or any database package; store turns bandit_arms rows into Arms and back.
package bandit
