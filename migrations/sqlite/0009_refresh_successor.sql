-- The token that replaced a spent refresh token: a client that did not receive the answer of a
-- rotation may present the spent token again, within a short grace, while its successor is unused.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT NULL;
