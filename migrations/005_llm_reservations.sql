-- One row per open LLM budget reservation. A reservation is written in the same statement as the
-- conditional ledger update that admits it and deleted in the same statement as its settlement, so
-- llm_budget_days.reserved_usd is always the sum of the day's rows here. A row whose expires_at has
-- passed belongs to a caller that died between reserve and settle (a killed replica): Reserve and the
-- sweep reclaim it, counting it as spent at the reserved amount (OpenAI may have billed the call) with
-- an api_usage row (status 'failed', error_code 'reservation_expired').
CREATE TABLE llm_reservations (
    id          bigserial PRIMARY KEY,
    day         date NOT NULL,
    purpose     text NOT NULL,
    amount_usd  numeric(14, 8) NOT NULL CHECK (amount_usd >= 0),
    request_id  text NOT NULL,
    model       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Reclaiming reads only expired rows (normally none): a range scan up to now.
CREATE INDEX llm_reservations_expires ON llm_reservations (expires_at);
