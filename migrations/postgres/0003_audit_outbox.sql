-- Audit log of every change to accounts and links, and the durable outbox of webhook
-- notifications written in the same transaction as the change they report.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,   -- account:<id> | admin:<name> | system
    ip          TEXT    NULL,
    action      TEXT    NOT NULL,   -- identity.linked, identity.unlinked, ...
    account_id  TEXT    NOT NULL,
    other_account_id TEXT NULL,
    issuer      TEXT    NULL,
    subject     TEXT    NULL,
    detail      TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);

CREATE TABLE webhook_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    created_at      BIGINT  NOT NULL,
    payload         TEXT    NOT NULL,   -- the JSON body sent to every webhook
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    delivered_at    BIGINT  NULL,
    last_error      TEXT    NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);
