-- Indexes for the hot paths at scale (README "Benchmarks").
-- A plan reads its account's scheduled and posted times (spacing, daily cap) around now: an index range,
-- not every decision the account ever made.
CREATE INDEX content_metadata_pacing ON content_metadata (account_id, (COALESCE(posted_at, scheduled_at)))
    WHERE status IN ('queued', 'posting', 'posted');
