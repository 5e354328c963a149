-- X as it really behaves: the simulator's new faults, the account's id per backend, and the start of a
-- decision's first posting attempt (reconciliation reads the timeline from there).

ALTER TABLE sim_faults DROP CONSTRAINT sim_faults_kind_check;
ALTER TABLE sim_faults ADD CONSTRAINT sim_faults_kind_check CHECK (kind IN (
    'error_5xx', 'rate_limit', 'timeout_before', 'timeout_after', 'reset', 'latency', 'unauthorized', 'forbidden',
    'errors_200', 'malformed_json', 'html',
    'forbidden_oauth1_permissions', 'forbidden_unsupported_auth', 'forbidden_client', 'forbidden_suspended',
    'forbidden_reply_restricted', 'forbidden_policy', 'forbidden_unknown'));

-- The simulator's id of the account, kept apart from its X id (x_user_id), so a shadow run's id is never
-- taken for the account's id on X.
ALTER TABLE accounts ADD COLUMN sim_user_id text;

-- When the decision's first posting attempt started: an earlier attempt's post may show up late, so
-- reconciliation looks from here, not from the current attempt.
ALTER TABLE content_metadata ADD COLUMN first_posting_at timestamptz;
UPDATE content_metadata SET first_posting_at = posting_started_at WHERE posting_started_at IS NOT NULL;
