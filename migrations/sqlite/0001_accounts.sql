-- Accounts and the upstream identities linked to them (DESIGN.md §2), SQLite.
-- Through sqlx's Any driver: flags are INTEGER 0/1, times are INTEGER milliseconds since the
-- Unix epoch, JSON is TEXT. Uniqueness of (issuer, subject) is the database's job.

CREATE TABLE accounts (
    id               TEXT    PRIMARY KEY NOT NULL,
    -- active | disabled | merged_into:<id>
    status           TEXT    NOT NULL DEFAULT 'active',
    -- identities.id of the primary identity; no FK: the two rows refer to each other
    primary_identity INTEGER NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE identities (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer         TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    provider_id    TEXT    NOT NULL,
    account_id     TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email          TEXT    NULL,
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name           TEXT    NULL,
    can_sign_in    INTEGER NOT NULL DEFAULT 1 CHECK (can_sign_in IN (0, 1)),
    linked_at      INTEGER NOT NULL,
    last_login_at  INTEGER NULL,
    last_claims    TEXT    NOT NULL DEFAULT '{}'
);

CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_account_id ON identities (account_id);
CREATE INDEX identities_email_lower ON identities (lower(email));
