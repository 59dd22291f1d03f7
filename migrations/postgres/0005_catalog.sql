-- Providers and clients registered through the admin service (the API and the CLI), beside the
-- provider files and `[[clients]]` of braid.toml. `definition` is JSON text with the keys of a
-- provider file / a `[[clients]]` entry; a client's secret is kept only as its SHA-256 (hex).
-- `catalog_version` is bumped in the same transaction as every change, so that each braid
-- process learns cheaply whether it must read the tables again.
CREATE TABLE providers (
    id          TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE clients (
    id             TEXT PRIMARY KEY,
    definition     TEXT NOT NULL,
    secret_sha256  TEXT,
    version        BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE catalog_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

CREATE INDEX grants_client ON grants (client_id);
