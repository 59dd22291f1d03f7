-- What a grant's later tokens repeat from its authorization: the upstream's `acr` (ID tokens)
-- and the claims asked for by the `claims` request parameter (JSON; ID tokens and /userinfo).
ALTER TABLE grants ADD COLUMN acr TEXT NULL;
ALTER TABLE grants ADD COLUMN request_claims TEXT NULL;
