-- Trust re-checked after it is granted: each grant remembers the identity and provider it was
-- issued through (both must still be able to sign in at every refresh) and the store key of its
-- browser session (a grant without offline_access ends with that session). Grants from before
-- carry NULLs and are refused at their next refresh (fail closed). auth_time 0 means unknown.
ALTER TABLE grants ADD COLUMN identity_id INTEGER;
ALTER TABLE grants ADD COLUMN provider_id TEXT;
ALTER TABLE grants ADD COLUMN session_key TEXT;
CREATE INDEX grants_sid ON grants (sid);
