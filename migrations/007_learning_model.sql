-- Learning as a joint model (the learning issue): a Bayesian linear regression of the log engagement
-- rate at the first reading on one-hot arms, every outcome weighted by its age (LEARN_HALF_LIFE).

-- The first reading's counts: the model's response is log((engagements + 0.5) / (impressions + 1)) at
-- that reading; follow-up readings update impressions..bookmarks only. Rows stored before this migration
-- take their first reading from what they hold.
ALTER TABLE outcomes
    ADD COLUMN first_impressions bigint CHECK (first_impressions IS NULL OR first_impressions >= 0),
    ADD COLUMN first_engagements bigint CHECK (first_engagements IS NULL OR first_engagements >= 0);
UPDATE outcomes SET first_impressions = impressions,
    first_engagements = round(first_engagement_rate * impressions)::bigint
WHERE first_engagement_rate IS NOT NULL;

-- bandit_arms: one row per arm, written by every learn run (alpha, beta, pulls keep the seed's meaning
-- as far as a regression allows: see below).
--   lift         the arm's effect as a multiplier of the account's usual engagement rate (the evidence-
--                weighted mean of its dimension): 1.18 reads "×1.18", 18% above usual; 0.8 is 20% below.
--   uncertainty  the posterior standard deviation of ln(lift): lift ×/÷ exp(uncertainty) is about one sd.
--   lift_low, lift_high  the 90% credible interval of lift (what a bar's whisker shows).
--   evidence     the age-weighted number of posts with this arm (each weighs 2^(-age / LEARN_HALF_LIFE)),
--                counting only the arm's current regime.
--   since        when a change test found the arm's effect shifted: its current regime starts here, and
--                its earlier posts no longer count for it. NULL: no change found.
--   alpha, beta  1 + evidence × P(lift > 1) and 1 + evidence × P(lift <= 1): a Beta whose mean is the
--                probability that the arm beats the account's usual rate.
ALTER TABLE bandit_arms
    ADD COLUMN lift double precision NOT NULL DEFAULT 1 CHECK (lift > 0),
    ADD COLUMN uncertainty double precision CHECK (uncertainty IS NULL OR uncertainty >= 0),
    ADD COLUMN lift_low double precision,
    ADD COLUMN lift_high double precision,
    ADD COLUMN evidence double precision NOT NULL DEFAULT 0 CHECK (evidence >= 0),
    ADD COLUMN since timestamptz,
    ADD COLUMN learned_version integer;

-- The joint posterior each run computed, which plans sample from: {"post": …, "reply": …}, each with its
-- features, mean, covariance Cholesky factor and noise sd (internal/bandit Posterior).
ALTER TABLE learning_runs
    ADD COLUMN posterior jsonb,
    ADD COLUMN half_life_seconds double precision;

-- A learn run reads the account's most recent posts (and replies) with their first reading, newest
-- first and bounded, so its cost does not grow with the table.
CREATE INDEX posted_decisions_account_type_posted ON posted_decisions (account_id, decision_type, posted_at DESC);
