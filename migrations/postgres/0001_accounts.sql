-- Accounts and the upstream identities linked to them (DESIGN.md §2), PostgreSQL.
-- Through sqlx's Any driver: flags are BIGINT 0/1 (no BOOLEAN, no INTEGER), times are BIGINT
-- milliseconds since the Unix epoch, JSON is TEXT. Uniqueness of (issuer, subject) is the
-- database's job.

CREATE TABLE accounts (
    id               TEXT   PRIMARY KEY,
    -- active | disabled | merged_into:<id>
    status           TEXT   NOT NULL DEFAULT 'active',
    -- identities.id of the primary identity; no FK: the two rows refer to each other
    primary_identity BIGINT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE identities (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuer         TEXT   NOT NULL,
    subject        TEXT   NOT NULL,
    provider_id    TEXT   NOT NULL,
    account_id     TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email          TEXT   NULL,
    email_verified BIGINT NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name           TEXT   NULL,
    can_sign_in    BIGINT NOT NULL DEFAULT 1 CHECK (can_sign_in IN (0, 1)),
    linked_at      BIGINT NOT NULL,
    last_login_at  BIGINT NULL,
    last_claims    TEXT   NOT NULL DEFAULT '{}'
);

CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_account_id ON identities (account_id);
CREATE INDEX identities_email_lower ON identities (lower(email));
