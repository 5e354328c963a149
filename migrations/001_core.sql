-- Core tables of DESIGN.md section 3. Names and listed columns are fixed: operators query them by hand.

CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    handle      text,
    x_user_id   text UNIQUE,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- At most one default (env) account.
CREATE UNIQUE INDEX accounts_one_default ON accounts (is_default) WHERE is_default;

CREATE TABLE content_metadata (
    id                  bigserial PRIMARY KEY,
    decision_id         uuid NOT NULL UNIQUE,
    account_id          bigint NOT NULL REFERENCES accounts (id),
    decision_type       text NOT NULL CHECK (decision_type IN ('single', 'reply', 'thread')),
    content             text NOT NULL,
    content_hash        text NOT NULL,
    generation_source   text NOT NULL CHECK (generation_source IN ('real', 'synthetic')),
    status              text NOT NULL CHECK (status IN ('pending_approval', 'queued', 'posting', 'posted', 'failed', 'skipped', 'unconfirmed')),
    scheduled_at        timestamptz NOT NULL,
    topic               text,
    format              text,
    hook                text,
    hour_bucket         smallint CHECK (hour_bucket BETWEEN 0 AND 23),
    arm_propensities    jsonb NOT NULL DEFAULT '{}'::jsonb,
    quality_score       double precision,
    llm_request_id      text,
    target_tweet_id     text,
    target_username     text,
    tweet_id            text,
    posted_at           timestamptz,
    posting_started_at  timestamptz,
    posting_attempt     integer NOT NULL DEFAULT 0,
    skip_reason         text,
    error_message       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (decision_type <> 'reply' OR target_tweet_id IS NOT NULL),
    CHECK (status <> 'posted' OR (tweet_id IS NOT NULL AND posted_at IS NOT NULL))
);
CREATE INDEX content_metadata_status_scheduled ON content_metadata (status, scheduled_at);
CREATE INDEX content_metadata_account_created ON content_metadata (account_id, created_at);
-- One reply per target tweet, whatever its status, so a mention is never answered twice.
CREATE UNIQUE INDEX content_metadata_one_reply_per_target
    ON content_metadata (account_id, target_tweet_id) WHERE decision_type = 'reply';

CREATE TABLE posted_decisions (
    id                 bigserial PRIMARY KEY,
    decision_id        uuid NOT NULL UNIQUE REFERENCES content_metadata (decision_id),
    account_id         bigint NOT NULL REFERENCES accounts (id),
    decision_type      text NOT NULL CHECK (decision_type IN ('single', 'reply', 'thread')),
    generation_source  text NOT NULL CHECK (generation_source IN ('real', 'synthetic')),
    backend            text NOT NULL CHECK (backend IN ('x', 'simulator')),
    tweet_id           text NOT NULL,
    content            text NOT NULL,
    posted_at          timestamptz NOT NULL,
    UNIQUE (backend, tweet_id)
);
CREATE INDEX posted_decisions_account_posted ON posted_decisions (account_id, posted_at);

CREATE TABLE outcomes (
    id               bigserial PRIMARY KEY,
    decision_id      uuid NOT NULL UNIQUE REFERENCES content_metadata (decision_id),
    account_id       bigint NOT NULL REFERENCES accounts (id),
    tweet_id         text NOT NULL,
    simulated        boolean NOT NULL,
    impressions      bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
    likes            bigint NOT NULL DEFAULT 0 CHECK (likes >= 0),
    retweets         bigint NOT NULL DEFAULT 0 CHECK (retweets >= 0),
    replies          bigint NOT NULL DEFAULT 0 CHECK (replies >= 0),
    quotes           bigint NOT NULL DEFAULT 0 CHECK (quotes >= 0),
    bookmarks        bigint NOT NULL DEFAULT 0 CHECK (bookmarks >= 0),
    engagement_rate  double precision CHECK (engagement_rate IS NULL OR engagement_rate >= 0),
    -- The first reading's ER: what learning rewards; follow-ups update the columns above only.
    first_engagement_rate double precision,
    status           text NOT NULL CHECK (status IN ('ok', 'not_found', 'not_authorized', 'no_impressions')),
    collected_at     timestamptz NOT NULL,
    readings         integer NOT NULL DEFAULT 1 CHECK (readings >= 0),
    learned_at       timestamptz,
    CHECK (impressions > 0 OR engagement_rate IS NULL)
);
CREATE INDEX outcomes_unlearned ON outcomes (account_id, collected_at) WHERE learned_at IS NULL;

CREATE TABLE bandit_arms (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    scope       text NOT NULL CHECK (scope IN ('topic', 'format', 'hook', 'hour', 'reply')),
    arm_name    text NOT NULL,
    alpha       double precision NOT NULL DEFAULT 1 CHECK (alpha > 0),
    beta        double precision NOT NULL DEFAULT 1 CHECK (beta > 0),
    pulls       bigint NOT NULL DEFAULT 0 CHECK (pulls >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, scope, arm_name)
);

CREATE TABLE learning_runs (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts (id),
    version        integer NOT NULL CHECK (version > 0),
    arms_trained   integer NOT NULL CHECK (arms_trained >= 0),
    explore_ratio  double precision NOT NULL CHECK (explore_ratio BETWEEN 0 AND 1),
    outcomes_used  integer NOT NULL CHECK (outcomes_used >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, version)
);

CREATE TABLE api_usage (
    id                 bigserial PRIMARY KEY,
    request_id         text NOT NULL,
    purpose            text NOT NULL,
    model              text NOT NULL,
    prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cost_usd           numeric(14, 8) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    status             text NOT NULL CHECK (status IN ('success', 'failed', 'refused')),
    error_code         text,
    budget_day         date,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_usage_created ON api_usage (created_at);
CREATE INDEX api_usage_day_purpose ON api_usage (budget_day, purpose);

-- The LLM budget ledger: one row per budget day (in BUDGET_TZ). Reservations and settlements are single
-- conditional UPDATEs against this row, so the cap holds across replicas.
CREATE TABLE llm_budget_days (
    day           date PRIMARY KEY,
    spent_usd     numeric(14, 8) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
    reserved_usd  numeric(14, 8) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Per-purpose spend within a day, for OPENAI_PURPOSE_LIMITS.
CREATE TABLE llm_budget_purposes (
    day           date NOT NULL,
    purpose       text NOT NULL,
    spent_usd     numeric(14, 8) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
    reserved_usd  numeric(14, 8) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    PRIMARY KEY (day, purpose)
);

-- Circuits shared by the fleet: 'llm' (quota) and 'x:<account_id>' (X auth failures).
CREATE TABLE circuits (
    name          text PRIMARY KEY,
    open_until    timestamptz,
    reason        text,
    probing_until timestamptz,
    opened_at     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- OAuth 2.0 user tokens rotated by X (refresh tokens are single-use).
CREATE TABLE x_oauth_tokens (
    account_id     bigint PRIMARY KEY REFERENCES accounts (id),
    access_token   text NOT NULL,
    refresh_token  text NOT NULL,
    expires_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
