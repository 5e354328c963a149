-- Each account's share of the day's LLM budget (xbot accounts set H budget_usd=...). The day's row in
-- llm_budget_days still holds DAILY_OPENAI_LIMIT_USD for the whole fleet; a call made for an account also
-- moves that account's row here, in the same statements (reserve, settle, reclaim) and under the same lock
-- (the day's row, taken first), so the share holds across replicas exactly like the day's cap.

-- The account a reservation (and a usage row) was made for; NULL: a call for no account (xbot llm, gates).
ALTER TABLE llm_reservations ADD COLUMN account_id bigint;
ALTER TABLE api_usage ADD COLUMN account_id bigint;

-- Per account and budget day: spent and reserved, like llm_budget_days. reserved_usd is always the sum of
-- the account's open reservations of the day.
CREATE TABLE llm_budget_accounts (
    day           date NOT NULL,
    account_id    bigint NOT NULL,
    spent_usd     numeric(14, 8) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
    reserved_usd  numeric(14, 8) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    PRIMARY KEY (day, account_id)
);
