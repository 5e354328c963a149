-- Indexes for the hot paths at scale (README "Benchmarks").
-- A plan reads its account's scheduled and posted times (spacing, daily cap) around now: an index range,
-- not every decision the account ever made.
CREATE INDEX content_metadata_pacing ON content_metadata (account_id, (COALESCE(posted_at, scheduled_at)))
    WHERE status IN ('queued', 'posting', 'posted');

-- A post's claim reads the account's last post and its count today (MIN_POST_SPACING, MAX_POSTS_PER_DAY).
CREATE INDEX content_metadata_post_pace ON content_metadata (account_id, (COALESCE(posting_started_at, posted_at)))
    WHERE decision_type = 'single' AND status IN ('posting', 'posted', 'unconfirmed');
