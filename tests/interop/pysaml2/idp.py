"""A SAML 2.0 Identity Provider built on pysaml2, on loopback, for braid's interop tests only.

Usage: python idp.py <port> <sp_metadata_file> <response|assertion|both>

  GET  /metadata  the IdP metadata (entity ID http://127.0.0.1:<port>/metadata)
  GET  /sso       HTTP-Redirect AuthnRequest -> a login form (400 when the request is invalid)
  POST /login     key + username -> an auto-submitting HTTP-POST form carrying the SAMLResponse

The mode says what is signed: the Response, the Assertion, or both (rsa-sha256, sha256, exc-c14n).
A signed AuthnRequest is required, and verified with the SP metadata's signing certificate, when
that metadata says AuthnRequestsSigned="true"; a signature sent anyway is verified too.
The key pair next to this file is a committed test-only key.
"""

import base64
import hashlib
import html
import logging
import os
import secrets
import signal
import sys
import threading
import warnings
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# pysaml2 still names cipher modes that newer cryptography releases deprecate; keep stderr quiet.
warnings.filterwarnings("ignore", message=".*cryptography.hazmat.decrepit")

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

HERE = os.path.dirname(os.path.abspath(__file__))
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def sp_signs_requests(path):
    root = ET.parse(path).getroot()
    for d in root.iter(f"{{{MD}}}SPSSODescriptor"):
        if d.get("AuthnRequestsSigned") in ("true", "1"):
            return True
    return False


def make_idp(port, sp_metadata, want_signed_requests):
    base = f"http://127.0.0.1:{port}"
    conf = IdPConfig()
    conf.load(
        {
            "entityid": f"{base}/metadata",
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": os.path.join(HERE, "idp-key.pem"),
            "cert_file": os.path.join(HERE, "idp-cert.pem"),
            "metadata": {"local": [sp_metadata]},
            "accepted_time_diff": 60,
            "service": {
                "idp": {
                    "name": "braid interop pysaml2 IdP",
                    "endpoints": {"single_sign_on_service": [(f"{base}/sso", BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "want_authn_requests_signed": want_signed_requests,
                    "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                }
            },
        }
    )
    return Server(config=conf)


def page(body, title):
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n{body}\n</html>\n'
    ).encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "braid-interop-pysaml2"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def bad(self, why):
        print(f"pysaml2 idp: 400 {self.path.split('?')[0]}: {why}", file=sys.stderr)
        self.reply(400, page(f"<body><p>{html.escape(why)}</p></body>", "Bad request"))

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/metadata":
            self.reply(200, METADATA, "application/samlmetadata+xml")
        elif url.path == "/sso":
            self.sso(url.query)
        else:
            self.reply(404, page("<body><p>not found</p></body>", "Not found"))

    def do_POST(self):
        if urlsplit(self.path).path != "/login":
            return self.reply(404, page("<body><p>not found</p></body>", "Not found"))
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        self.login({k: v[0] for k, v in form.items()})

    def sso(self, query):
        q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if "SAMLRequest" not in q:
            return self.bad("no SAMLRequest")
        relay_state = q.get("RelayState")
        sigalg, signature = q.get("SigAlg"), q.get("Signature")
        try:
            req = IDP.parse_authn_request(
                q["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=relay_state, sigalg=sigalg, signature=signature
            )
            if req is None:
                raise ValueError("unparsable AuthnRequest")
            msg = req.message
            # pysaml2 computes this (IssueInstant within a day) but does not act on it.
            if not req.issue_instant_ok():
                raise ValueError(f"IssueInstant {msg.issue_instant}")
            signed = WANT_SIGNED
            if signature is not None and not WANT_SIGNED:
                # Not required by the metadata, but sent: it still has to verify.
                saml_msg = {k: q[k] for k in ("SAMLRequest", "RelayState", "SigAlg", "Signature") if k in q}
                certs = IDP.metadata.certs(msg.issuer.text, "any", "signing")
                if not any(verify_redirect_signature(saml_msg, IDP.sec.sec_backend, c) for _, c in certs):
                    raise ValueError("the redirect signature does not verify")
                signed = True
            if msg.protocol_binding not in (None, BINDING_HTTP_POST):
                raise ValueError(f"unsupported ProtocolBinding {msg.protocol_binding}")
            # Checks the ACS URL (or index) against the SP metadata and picks the HTTP-POST one.
            args = IDP.response_args(msg, [BINDING_HTTP_POST])
        except Exception as e:  # any refusal of the request is the client's fault here
            return self.bad(f"{type(e).__name__}: {e}")
        force_authn = msg.force_authn in ("true", "1")
        key = secrets.token_urlsafe(24)
        with LOCK:
            PENDING[key] = {
                "in_response_to": args["in_response_to"],
                "destination": args["destination"],
                "sp_entity_id": args["sp_entity_id"],
                "relay_state": relay_state,
            }
        self.reply(
            200,
            page(
                f'<body>\n<p id="request" data-request-id="{html.escape(msg.id)}"'
                f' data-force-authn="{str(force_authn).lower()}" data-signed="{str(signed).lower()}">'
                f"Sign in to {html.escape(args['sp_entity_id'])}</p>\n"
                '<form method="post" action="/login">\n'
                f'<input type="hidden" name="key" value="{html.escape(key)}">\n'
                '<input type="text" name="username" autofocus>\n'
                '<button type="submit">Sign in</button>\n</form>\n</body>',
                "Sign in",
            ),
        )

    def login(self, form):
        username = form.get("username", "")
        if not username:
            return self.bad("empty username")
        with LOCK:
            pending = PENDING.pop(form.get("key", ""), None)
        if pending is None:
            return self.bad("unknown or used key")
        nameid = "p-" + hashlib.sha256(username.encode()).hexdigest()[:16]
        try:
            resp = IDP.create_authn_response(
                identity={"mail": [f"{username}@example.org"], "displayName": [f"User {username}"]},
                in_response_to=pending["in_response_to"],
                destination=pending["destination"],
                sp_entity_id=pending["sp_entity_id"],
                name_id=NameID(
                    format=NAMEID_FORMAT_PERSISTENT,
                    name_qualifier=IDP.config.entityid,
                    sp_name_qualifier=pending["sp_entity_id"],
                    text=nameid,
                ),
                authn={"class_ref": AUTHN_PASSWORD_PROTECTED},
                sign_response=MODE in ("response", "both"),
                sign_assertion=MODE in ("assertion", "both"),
                encrypt_assertion=False,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
        except Exception as e:
            print(f"pysaml2 idp: 500 /login: {type(e).__name__}: {e}", file=sys.stderr)
            return self.reply(500, page("<body><p>could not build the response</p></body>", "Error"))
        saml_response = base64.b64encode(str(resp).encode()).decode()
        relay = pending["relay_state"]
        relay_input = (
            "" if relay is None else f'<input type="hidden" name="RelayState" value="{html.escape(relay)}">\n'
        )
        self.reply(
            200,
            page(
                '<body onload="document.forms[0].submit()">\n'
                f'<form method="post" action="{html.escape(pending["destination"])}">\n'
                f'<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}">\n'
                f"{relay_input}"
                '<noscript><button type="submit">Continue</button></noscript>\n</form>\n</body>',
                "Continue",
            ),
        )


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in ("response", "assertion", "both"):
        sys.exit("usage: idp.py <port> <sp_metadata_file> <response|assertion|both>")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    PORT, SP_METADATA, MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    WANT_SIGNED = sp_signs_requests(SP_METADATA)
    IDP = make_idp(PORT, SP_METADATA, WANT_SIGNED)
    METADATA = create_metadata_string(None, config=IDP.config)
    PENDING, LOCK = {}, threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    httpd.daemon_threads = True
    httpd.serve_forever()
