-- Browser sessions of an account made at or before this instant (ms) are over: every account
-- change that ends sessions sets it in its own transaction, so a session store that fails
-- between the change and the end of the sessions cannot leave one alive.
ALTER TABLE accounts ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
