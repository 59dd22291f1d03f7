"""Authlib as a relying party against braid, driven by braid's interop test in two steps around
the browser part, which the test walks itself:

  rp.py start  '<config JSON>'                    -> {url, verifier, state, nonce}
  rp.py finish '<config JSON>' '<callback URL>' '<verifier>' '<state>' '<nonce>'
       -> {claims, userinfo, rotated, refreshed_claims, revoked_refresh_error, logout_url}

The config is the one of tests/interop/rp-node/rp.mjs (issuer, client, auth_method, alg, par).
The ID token is validated by Authlib's own OpenIDMixin.parse_id_token (signature against the
JWKS with the advertised algorithms, iss, aud, exp, nonce, at_hash); any failure exits 1.
"""

import contextlib
import json
import sys

from authlib.common.security import generate_token
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge


class BraidRp(OpenIDMixin):
    """The framework-independent parts of Authlib's OpenID client over a requests session."""

    def __init__(self, cfg, session):
        self.cfg = cfg
        self.session = session
        self.client_id = cfg["client_id"]
        resp = session.get(cfg["issuer"] + "/.well-known/openid-configuration", withhold_token=True)
        resp.raise_for_status()
        self.server_metadata = resp.json()
        if self.server_metadata["issuer"] != cfg["issuer"]:
            raise RuntimeError("discovery issuer mismatch")
        alg = cfg.get("alg") or "RS256"
        if alg not in self.server_metadata["id_token_signing_alg_values_supported"]:
            raise RuntimeError(f"{alg} is not advertised")
        # Authlib checks the signature against the advertised algorithms; the client expects one.
        self.server_metadata["id_token_signing_alg_values_supported"] = [alg]

    def load_server_metadata(self):
        return self.server_metadata

    def _get_session(self):
        return contextlib.nullcontext(self.session)

    def get(self, url, **kwargs):
        return self.session.get(url, **kwargs)


def session_for(cfg):
    if cfg["auth_method"] not in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        raise RuntimeError("unknown auth_method " + cfg["auth_method"])
    kwargs = {}
    if cfg["auth_method"] == "private_key_jwt":
        from authlib.oauth2.rfc7523 import PrivateKeyJWT

        from joserfc.jwk import ECKey, OKPKey, RSAKey

        jwk = cfg["private_key_jwk"]
        # Authlib signs with a key object of the key's own type (a bare dict is read as RSA).
        key_type = {"EC": ECKey, "OKP": OKPKey, "RSA": RSAKey}[jwk["kty"]]
        kwargs["client_secret"] = key_type.import_key(jwk)
        kwargs["token_endpoint_auth_method"] = PrivateKeyJWT(
            cfg["issuer"] + "/token", alg=jwk.get("alg", "RS256"), headers={"kid": jwk["kid"]}
        )
    else:
        kwargs["client_secret"] = cfg["client_secret"]
        kwargs["token_endpoint_auth_method"] = cfg["auth_method"]
    return OAuth2Session(
        cfg["client_id"],
        scope=cfg.get("scope") or "openid profile email offline_access",
        redirect_uri=cfg["redirect_uri"],
        code_challenge_method="S256",
        # The same method at the revocation endpoint (a signed assertion for private_key_jwt).
        revocation_endpoint_auth_method=kwargs["token_endpoint_auth_method"],
        **kwargs,
    )


def main():
    step, cfg = sys.argv[1], json.loads(sys.argv[2])
    session = session_for(cfg)
    rp = BraidRp(cfg, session)
    meta = rp.server_metadata
    if step == "start":
        verifier, nonce = generate_token(48), generate_token(20)
        if cfg.get("par"):
            challenge = create_s256_code_challenge(verifier)
            resp = session.post(
                meta["pushed_authorization_request_endpoint"],
                data={
                    "client_id": cfg["client_id"],
                    "response_type": "code",
                    "redirect_uri": cfg["redirect_uri"],
                    "scope": session.scope,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "nonce": nonce,
                    "state": (state := generate_token(20)),
                },
                auth=session.client_auth(session.token_endpoint_auth_method),
                withhold_token=True,
            )
            resp.raise_for_status()
            url = meta["authorization_endpoint"] + "?" + __import__("urllib.parse").parse.urlencode(
                {"client_id": cfg["client_id"], "request_uri": resp.json()["request_uri"]}
            )
        else:
            url, state = session.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        print(json.dumps({"url": url, "verifier": verifier, "state": state, "nonce": nonce}))
    elif step == "finish":
        callback, verifier, state, nonce = sys.argv[3:7]
        session.state = state
        # Authlib checks state and, with the iss it is given, RFC 9207's iss.
        token = session.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
        )
        claims = rp.parse_id_token(token, nonce, claims_options={"iss": {"essential": True, "value": meta["issuer"]}})
        userinfo = rp.userinfo().copy()
        if userinfo.get("sub") != claims["sub"]:
            raise RuntimeError("userinfo sub differs from the ID token's")
        refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        rotated = bool(refreshed.get("refresh_token")) and refreshed["refresh_token"] != token["refresh_token"]
        refreshed_claims = rp.parse_id_token(refreshed, None) if "id_token" in refreshed else None
        resp = session.revoke_token(
            meta["revocation_endpoint"], refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        resp.raise_for_status()
        revoked_error = None
        try:
            session.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
        except Exception as e:  # Authlib raises OAuthError with the server's error code
            revoked_error = getattr(e, "error", str(e))
        logout = rp.create_logout_url(
            post_logout_redirect_uri=cfg["post_logout_redirect_uri"],
            id_token_hint=token["id_token"],
            state="bye-state",
        )
        print(
            json.dumps(
                {
                    "claims": dict(claims),
                    "userinfo": userinfo,
                    "rotated": rotated,
                    "refreshed_claims": dict(refreshed_claims) if refreshed_claims else None,
                    "revoked_refresh_error": revoked_error,
                    "logout_url": logout["url"],
                }
            )
        )
    else:
        raise RuntimeError("unknown step " + step)


if __name__ == "__main__":
    main()
