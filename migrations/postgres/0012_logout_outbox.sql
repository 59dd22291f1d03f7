-- The durable outbox of back-channel logout tokens to applications (OIDC Back-Channel Logout
-- 1.0): one row per token to send, written when a session or an account ends (in the same
-- transaction as the grants' revocation). The token is signed at each attempt (fresh `iat` and
-- `exp`) with the same `jti`. `kind`: `session` (sub and sid), `account` (sub only; skipped for a
-- client that requires sid), `account_session` (sub and sid; sent only to a client that
-- requires sid).
CREATE TABLE logout_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti             TEXT    NOT NULL UNIQUE,
    client_id       TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    sid             TEXT    NULL,
    kind            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    delivered_at    BIGINT  NULL,
    last_error      TEXT    NULL
);
CREATE INDEX logout_outbox_due ON logout_outbox (delivered_at, next_attempt_at);
