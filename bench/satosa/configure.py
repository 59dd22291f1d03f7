"""Write a SATOSA proxy configuration for braid's brokered benchmark (loopback only).

SATOSA (pinned in requirements.txt) runs with one OpenID Connect frontend, the relying party
being the benchmark driver, and one OpenID Connect backend, the upstream being the driver's fast
local provider: the same brokered sign-in braid is measured on.

usage: configure.py DIR BASE UPSTREAM_ISSUER UP_CLIENT UP_SECRET RP_CLIENT RP_SECRET RP_REDIRECT
"""

import json
import os
import sys
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def discovered(issuer):
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as r:
        return json.load(r)


def main():
    d, base, upstream, up_client, up_secret, rp_client, rp_secret, rp_redirect = sys.argv[1:9]
    os.makedirs(d, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(os.path.join(d, "frontend.key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    clients = {
        rp_client: {
            "client_secret": rp_secret,
            "redirect_uris": [rp_redirect],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    }
    with open(os.path.join(d, "clients.json"), "w") as f:
        json.dump(clients, f)
    # YAML is a superset of JSON: every file below is written as JSON.
    frontend = {
        "module": "satosa.frontends.openid_connect.OpenIDConnectFrontend",
        "name": "OIDC",
        "config": {
            "signing_key_path": os.path.join(d, "frontend.key"),
            "signing_key_id": "bench",
            "client_db_path": os.path.join(d, "clients.json"),
            "sub_hash_salt": "bench-salt",
            "sub_mirror_public": True,
            "provider": {
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "scopes_supported": ["openid", "email"],
                "id_token_lifetime": 300,
            },
        },
    }
    backend = {
        "module": "satosa.backends.openid_connect.OpenIDConnectBackend",
        "name": "up",
        "config": {
            # Given whole, read from the upstream's discovery here: SATOSA's own discovery
            # refuses an issuer that is not https, and the upstream is on loopback http.
            "provider_metadata": discovered(upstream),
            "client": {
                "verify_ssl": False,
                "auth_req_params": {"response_type": "code", "scope": "openid email"},
                "client_metadata": {
                    "client_id": up_client,
                    "client_secret": up_secret,
                    "application_name": "bench",
                    "application_type": "web",
                    "contacts": ["bench@example.com"],
                    "redirect_uris": [f"{base}/up"],
                    "subject_type": "public",
                    "token_endpoint_auth_method": "client_secret_basic",
                },
            },
        },
    }
    attributes = {
        "attributes": {
            "mail": {"openid": ["email"]},
            "name": {"openid": ["name"]},
            "uid": {"openid": ["sub"]},
        },
    }
    proxy = {
        "BASE": base,
        "COOKIE_STATE_NAME": "SATOSA_STATE",
        "STATE_ENCRYPTION_KEY": "bench-state-encryption-key-32byt",
        "CONTEXT_STATE_DELETE": True,
        "cookies_samesite_compat": [],
        "INTERNAL_ATTRIBUTES": os.path.join(d, "internal_attributes.yaml"),
        "BACKEND_MODULES": [os.path.join(d, "backend.yaml")],
        "FRONTEND_MODULES": [os.path.join(d, "frontend.yaml")],
        "LOGGING": {
            "version": 1,
            "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "ERROR"}},
            "root": {"level": "ERROR", "handlers": ["stderr"]},
        },
    }
    for name, body in [
        ("frontend.yaml", frontend),
        ("backend.yaml", backend),
        ("internal_attributes.yaml", attributes),
        ("proxy_conf.yaml", proxy),
    ]:
        with open(os.path.join(d, name), "w") as f:
            json.dump(body, f, indent=1)


if __name__ == "__main__":
    main()
