-- Learning at a cost that does not grow with the history (README "Learning", "Benchmarks"): a learn run
-- reads the outcomes it learns, the account's statistics rows and the change test's window, never the
-- account's whole history. Both tables are derived from the learned outcomes: an account without
-- learn_stats rows (every account right after this migration), or whose rows were kept at another
-- LEARN_HALF_LIFE, is rebuilt from its learned outcomes by its next run.

-- learn_window: per account and model, the newest learned outcomes with a first reading (at most 1,000
-- of each model, none older than 8 half-lives at the last run), one row each with what the model reads;
-- the change test needs them one by one. arms are "scope:arm" (topic:…, format:…, hook:…, hour:…; reply:…).
CREATE TABLE learn_window (
    outcome_id  bigint PRIMARY KEY REFERENCES outcomes (id),
    account_id  bigint NOT NULL REFERENCES accounts (id),
    model       text NOT NULL CHECK (model IN ('post', 'reply')),
    simulated   boolean NOT NULL,
    posted_at   timestamptz NOT NULL,
    arms        text[] NOT NULL,
    log_rate    double precision NOT NULL
);
CREATE INDEX learn_window_account ON learn_window (account_id, model, posted_at);

-- learn_stats: per account, model and kind of outcome (simulated or real, so live mode can leave the
-- simulated ones out), the age-weighted sufficient statistics of the learned outcomes that have left
-- learn_window (internal/bandit Stats): a = Σ w x x' over the intercept and the features' one-hot
-- columns (row-major), b = Σ w x y, c = Σ w y², w = Σ w, every outcome weighing 2^(-(at - posted_at) /
-- half-life) at as_of. A run rolls them to its own time (× 2^(-dt / half-life)) and adds what leaves the
-- window, in the transaction that marks outcomes learned.
CREATE TABLE learn_stats (
    account_id        bigint NOT NULL REFERENCES accounts (id),
    model             text NOT NULL CHECK (model IN ('post', 'reply')),
    simulated         boolean NOT NULL,
    as_of             timestamptz NOT NULL,
    half_life_seconds double precision NOT NULL CHECK (half_life_seconds > 0),
    features          text[] NOT NULL,
    a                 double precision[] NOT NULL,
    b                 double precision[] NOT NULL,
    c                 double precision NOT NULL,
    w                 double precision NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (account_id, model, simulated),
    CHECK (cardinality(b) = cardinality(features) + 1 AND cardinality(a) = cardinality(b) * cardinality(b))
);
