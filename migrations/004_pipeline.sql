-- Columns the posting protocol needs beyond the fixed ones.
ALTER TABLE content_metadata
    -- First empty timeline read of a reconciliation; a second one a grace later allows a re-send.
    ADD COLUMN reconcile_checked_at timestamptz,
    -- Where the post went ('x' or 'simulator'), decided when it was first sent.
    ADD COLUMN backend text CHECK (backend IS NULL OR backend IN ('x', 'simulator'));

-- Sweeps look for rows by status alone.
CREATE INDEX content_metadata_posting ON content_metadata (posting_started_at) WHERE status = 'posting';
CREATE INDEX posted_decisions_posted_at ON posted_decisions (posted_at);

-- Learning reads only usable outcomes; the partial index holds just those, so a run's cost does not grow
-- with outcomes that will never be learned from (not_found, not_authorized).
DROP INDEX outcomes_unlearned;
CREATE INDEX outcomes_unlearned ON outcomes (account_id, simulated, collected_at)
    WHERE learned_at IS NULL AND status IN ('ok', 'no_impressions');

-- The simulator's audience model finds a post's decision by its text.
CREATE INDEX content_metadata_content_hash ON content_metadata (content_hash);
