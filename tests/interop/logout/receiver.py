"""A relying party's back-channel logout endpoint for braid's tests: it verifies every logout
token it receives with joserfc, as an application would (OIDC Back-Channel Logout 1.0 §2.6),
against braid's published JWKS, and writes what it found to <dir>/<n>.json.

    .venv/bin/python receiver.py <port> <dir> <issuer> [<leeway seconds>]

`POST /bcl/<client_id>` with a form `logout_token`: the token's signature is checked with a key
of `<issuer>/jwks.json`; its `typ` must be `logout+jwt`; `iss` the issuer, `aud` the client id;
`iat`, `exp` and `jti` present; `events` holding the back-channel logout event as an object;
`sub` or `sid` present; no `nonce`. It answers 200 when all hold, 400 otherwise, and records
{"client", "ok", "error", "header", "claims"} either way. It prints `ready` once it listens.
"""

import json
import os
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class State:
    def __init__(self, directory, issuer, leeway):
        self.directory = directory
        self.issuer = issuer
        self.leeway = leeway
        self.lock = threading.Lock()
        self.count = len([n for n in os.listdir(directory) if n.endswith(".json")])

    def record(self, entry):
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(self.directory, ".%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, os.path.join(self.directory, "%06d.json" % n))


def verify(state, client_id, token):
    with urllib.request.urlopen(state.issuer + "/jwks.json", timeout=5) as r:
        keys = KeySet.import_key_set(json.load(r))
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256", "EdDSA"])
    header, claims = decoded.header, decoded.claims
    if header.get("typ") != "logout+jwt":
        raise ValueError("typ is not logout+jwt")
    registry = jwt.JWTClaimsRegistry(
        leeway=state.leeway,
        iss={"essential": True, "value": state.issuer},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
        events={"essential": True},
    )
    registry.validate(claims)
    if not isinstance(claims["events"].get(EVENT), dict):
        raise ValueError("events lacks the back-channel logout event")
    if "nonce" in claims:
        raise ValueError("a logout token must not have a nonce")
    if "sub" not in claims and "sid" not in claims:
        raise ValueError("neither sub nor sid")
    return header, claims


def handler(state):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            parts = self.path.split("/")
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8"))
            client_id = parts[2] if len(parts) == 3 and parts[1] == "bcl" else None
            entry = {"client": client_id, "ok": False, "error": None, "header": None, "claims": None,
                     "content_type": self.headers.get("Content-Type")}
            try:
                if client_id is None:
                    raise ValueError("unknown path")
                tokens = form.get("logout_token", [])
                if len(tokens) != 1:
                    raise ValueError("one logout_token is needed")
                entry["header"], entry["claims"] = verify(state, client_id, tokens[0])
                entry["ok"] = True
            except Exception as e:  # every refusal is recorded and answered 400
                entry["error"] = "%s: %s" % (type(e).__name__, e)
            state.record(entry)
            self.send_response(200 if entry["ok"] else 400)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    port, directory, issuer = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    leeway = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    os.makedirs(directory, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(State(directory, issuer, leeway)))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
