-- The durable outbox of emails to the person: one row per message (one change, one recipient),
-- written in the same transaction as the change it reports, beside its webhook_outbox row.
-- The message is rendered from `payload` when it is sent; `message_id` names it in the
-- Message-ID header, the same on every attempt.
CREATE TABLE email_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT    NOT NULL UNIQUE,
    event_id        TEXT    NOT NULL,   -- the change's event id, as in webhook_outbox
    recipient       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    payload         TEXT    NOT NULL,   -- JSON: what changed, when, from where, which identity
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER NULL,
    last_error      TEXT    NULL
);
CREATE INDEX email_outbox_due ON email_outbox (delivered_at, next_attempt_at);
CREATE INDEX email_outbox_event ON email_outbox (event_id);
