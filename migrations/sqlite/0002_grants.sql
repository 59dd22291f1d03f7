-- Refresh-token families ("grants") and the tokens of each; durable so replicas and restarts
-- agree on rotation and replay.
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    auth_time   INTEGER NOT NULL,
    idp         TEXT NOT NULL,
    amr         TEXT NOT NULL,
    sid         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX grants_account ON grants (account_id);

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
