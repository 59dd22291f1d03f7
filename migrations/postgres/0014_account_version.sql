-- A counter that every change of an account (or of one of its links) raises in the change's
-- transaction: an admin's `If-Match` is checked against it under the account's lock, so two
-- admins holding one ETag can never both change the account.
ALTER TABLE accounts ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
