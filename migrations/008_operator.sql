-- Fleet switches (xbot pause / xbot resume): one row per scope, account_id NULL meaning every account. A row
-- overrides POSTING_DISABLED while it exists: paused = true stops posting, paused = false allows it; the
-- account's own row wins over the fleet-wide one. No row: POSTING_DISABLED decides.
CREATE TABLE posting_switches (
    id          bigserial PRIMARY KEY,
    account_id  bigint REFERENCES accounts (id),
    paused      boolean NOT NULL,
    reason      text,
    set_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX posting_switches_scope ON posting_switches (COALESCE(account_id, 0));

-- Approvals (xbot approve / reject): when a person decided on a pending_approval draft.
ALTER TABLE content_metadata ADD COLUMN reviewed_at timestamptz;
CREATE INDEX content_metadata_pending ON content_metadata (created_at) WHERE status = 'pending_approval';
