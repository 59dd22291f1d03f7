-- Audit log of every change to accounts and links, and the durable outbox of webhook
-- notifications written in the same transaction as the change they report.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
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
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    payload         TEXT    NOT NULL,   -- the JSON body sent to every webhook
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER NULL,
    last_error      TEXT    NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);
