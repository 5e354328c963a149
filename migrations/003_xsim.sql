-- The X simulator's world (internal/xsim): shared by every replica, so restarts and parallel
-- instances on one database see the same simulated X.

-- One row: the seed, how far the simulated clock has been advanced by hand, the engagement rate used
-- when no hidden rate matches, and a counter that keeps seeded mentions distinct.
CREATE TABLE sim_state (
    id               integer PRIMARY KEY CHECK (id = 1),
    seed             bigint NOT NULL,
    clock_offset_ms  bigint NOT NULL DEFAULT 0,
    default_rate     double precision NOT NULL DEFAULT 0.02 CHECK (default_rate >= 0 AND default_rate <= 1),
    mention_seq      bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sim_users (
    id               bigint PRIMARY KEY,
    username         text NOT NULL,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    followers_count  integer NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count  integer NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    listed_count     integer NOT NULL DEFAULT 0 CHECK (listed_count >= 0),
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX sim_users_username ON sim_users (lower(username));

-- Posts. reach and engagement_rate are fixed at creation by the audience model; metrics are a pure
-- function of them and the simulated clock, so every replica computes the same numbers.
CREATE TABLE sim_posts (
    id                   bigint PRIMARY KEY,
    author_id            bigint NOT NULL REFERENCES sim_users (id),
    text                 text NOT NULL,
    text_norm            text NOT NULL,
    in_reply_to_post_id  bigint,
    in_reply_to_user_id  bigint,
    conversation_id      bigint NOT NULL,
    mentions             text[] NOT NULL DEFAULT '{}',
    topic                text NOT NULL DEFAULT '',
    format               text NOT NULL DEFAULT '',
    hook                 text NOT NULL DEFAULT '',
    hour                 integer NOT NULL DEFAULT -1,
    reach                double precision NOT NULL DEFAULT 0 CHECK (reach >= 0),
    engagement_rate      double precision NOT NULL DEFAULT 0 CHECK (engagement_rate >= 0 AND engagement_rate <= 1),
    created_at           timestamptz NOT NULL,
    deleted_at           timestamptz
);
CREATE INDEX sim_posts_author ON sim_posts (author_id, id DESC);
CREATE INDEX sim_posts_mentions ON sim_posts USING gin (mentions);
CREATE INDEX sim_posts_author_text ON sim_posts (author_id, text_norm, created_at);

-- Hidden engagement rates. '*' (or hour -1) matches anything; the most specific match wins.
CREATE TABLE sim_rates (
    topic       text NOT NULL,
    format      text NOT NULL,
    hook        text NOT NULL,
    hour        integer NOT NULL CHECK (hour BETWEEN -1 AND 23),
    rate        double precision NOT NULL CHECK (rate >= 0 AND rate <= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, format, hook, hour)
);

-- Requests per endpoint per fixed rate-limit window.
CREATE TABLE sim_request_counts (
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, window_start)
);

-- Scripted faults: either the next `remaining` requests to the endpoint, or a seeded share (`rate`).
CREATE TABLE sim_faults (
    id              bigserial PRIMARY KEY,
    endpoint        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('error_5xx', 'rate_limit', 'timeout_before', 'timeout_after',
                                                  'reset', 'latency', 'unauthorized', 'forbidden')),
    status          integer NOT NULL DEFAULT 0,
    remaining       integer CHECK (remaining IS NULL OR remaining >= 0),
    rate            double precision NOT NULL DEFAULT 0 CHECK (rate >= 0 AND rate <= 1),
    latency_ms      bigint NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    reset_after_ms  bigint NOT NULL DEFAULT 0 CHECK (reset_after_ms >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Draws for rate-based faults: one number per request, so a seeded run replays the same faults.
CREATE SEQUENCE sim_request_seq;
-- The low bits of snowflake-like post ids.
CREATE SEQUENCE sim_post_seq;
