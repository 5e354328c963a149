-- Many accounts in one fleet (xbot accounts): each account's status, time zone and settings, and its X
-- credentials encrypted with AES-256-GCM under XBOT_SECRET_KEY (never stored in plaintext).

-- status: disabled accounts get no plan or reply jobs; their queued posts stay queued.
-- settings: variable name → value, overriding the environment for this account only (CONTENT_TOPICS,
--           MAX_POSTS_PER_DAY, BUDGET_USD, ...; `xbot accounts set` validates them like the environment).
-- timezone: the account's ACCOUNT_TZ (hour buckets, daily caps); NULL: the environment's.
ALTER TABLE accounts
    ADD COLUMN status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    ADD COLUMN timezone   text,
    ADD COLUMN settings   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- Handles are not unique in the table (test fixtures share one); x_user_id is, and `xbot accounts add`
-- refuses a handle already present.
CREATE INDEX accounts_handle ON accounts (lower(handle));

-- One row per added account (the env account's credentials stay in the environment). sealed is "v1:" and the
-- base64 of a GCM nonce and the ciphertext of the credentials' JSON, bound to the account id (the same sealing
-- as x_oauth_tokens): a value copied onto another account does not decrypt.
CREATE TABLE account_credentials (
    account_id  bigint PRIMARY KEY REFERENCES accounts (id),
    x_user_id   text NOT NULL,
    sealed      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
