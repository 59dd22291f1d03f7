// A SAML 2.0 Identity Provider built on samlify, on loopback, for braid's interop tests only.
// Usage: node server.mjs <port> <sp_metadata_file> <response|assertion|both>
//
//   GET  /metadata  the IdP metadata (entity ID http://127.0.0.1:<port>/metadata)
//   GET  /sso       HTTP-Redirect AuthnRequest -> a login form (400 when the request is invalid)
//   POST /login     key + username -> an auto-submitting HTTP-POST form carrying the SAMLResponse
//
// The mode says what is signed: the Response, the Assertion, or both (rsa-sha256, sha256,
// exc-c14n). A signed AuthnRequest is required, and verified with the SP metadata's signing
// certificate, when that metadata says AuthnRequestsSigned="true"; a signature sent anyway is
// verified too. The key pair next to this file is a committed test-only key.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import samlify from "samlify";
import * as validator from "@authenio/samlify-node-xmllint";

const [port, spMetadataFile, mode] = process.argv.slice(2);
if (!port || !spMetadataFile || !["response", "assertion", "both"].includes(mode)) {
  console.error("usage: node server.mjs <port> <sp_metadata_file> <response|assertion|both>");
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const { Constants, Extractor, SamlLib } = samlify;
const BINDING_POST = Constants.namespace.binding.post;
const PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const MAX_SKEW_MS = 10 * 60 * 1000;

// Schema-validates every inbound message (braid's AuthnRequest) against the SAML XSDs.
// node-xmllint (emscripten) runs a fresh xmllint per call, which prints " " on stdout, adds a
// process "uncaughtException" listener, and a stdout "drain" listener that would exit the
// process: all three are undone around the (synchronous) call.
const listeners = () => [
  [process, "uncaughtException", process.listeners("uncaughtException")],
  [process.stdout, "drain", process.stdout.listeners("drain")],
];
samlify.setSchemaValidator({
  validate: async (xml) => {
    const log = console.log;
    const before = listeners();
    console.log = () => {};
    try {
      return await validator.validate(xml);
    } finally {
      console.log = log;
      for (const [emitter, event, old] of before) {
        for (const l of emitter.listeners(event)) if (!old.includes(l)) emitter.removeListener(event, l);
      }
    }
  },
});

const sp = samlify.ServiceProvider({ metadata: readFileSync(spMetadataFile), wantMessageSigned: mode !== "assertion" });
// samlify signs the Assertion when the SP metadata says WantAssertionsSigned, and the Response when
// the SP wants signed messages or does not want signed assertions: the mode decides both instead.
sp.entityMeta.isWantAssertionsSigned = () => mode !== "response";
const spSignsRequests = sp.entityMeta.isAuthnRequestSigned();

const responseTemplate =
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
  ' ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">' +
  "<saml:Issuer>{Issuer}</saml:Issuer>" +
  '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
  '<saml:Assertion ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">' +
  "<saml:Issuer>{Issuer}</saml:Issuer>" +
  '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>' +
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
  '<saml:SubjectConfirmationData NotOnOrAfter="{NotOnOrAfter}" Recipient="{Destination}" InResponseTo="{InResponseTo}"/>' +
  "</saml:SubjectConfirmation></saml:Subject>" +
  '<saml:Conditions NotBefore="{NotBefore}" NotOnOrAfter="{NotOnOrAfter}">' +
  "<saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>" +
  '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext>' +
  "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>" +
  "</saml:AuthnContext></saml:AuthnStatement>" +
  "{AttributeStatement}</saml:Assertion></samlp:Response>";

// samlify warns on stdout/stderr that there is no SingleLogoutService: none is offered here.
const warn = console.warn;
console.warn = () => {};
const idp = samlify.IdentityProvider({
  entityID: `${base}/metadata`,
  privateKey: readFileSync(new URL("./idp-key.pem", import.meta.url)),
  signingCert: readFileSync(new URL("./idp-cert.pem", import.meta.url)),
  singleSignOnService: [{ Binding: Constants.namespace.binding.redirect, Location: `${base}/sso` }],
  nameIDFormat: [PERSISTENT],
  wantAuthnRequestsSigned: spSignsRequests,
  isAssertionEncrypted: false,
  requestSignatureAlgorithm: RSA_SHA256,
  loginResponseTemplate: {
    context: responseTemplate,
    attributes: [
      { name: "urn:oid:0.9.2342.19200300.100.1.3", nameFormat: URI_FORMAT, valueTag: "mail", valueXsiType: "xs:string" },
      { name: "urn:oid:2.16.840.1.113730.3.1.241", nameFormat: URI_FORMAT, valueTag: "displayName", valueXsiType: "xs:string" },
    ],
  },
});
console.warn = warn;
const metadata = idp.getMetadata();
const pending = new Map();

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const page = (title, body) =>
  `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n${body}\n</html>\n`;

function reply(res, status, body, type = "text/html; charset=utf-8") {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  res.end(body);
}

function bad(res, path, why) {
  console.error(`samlify idp: 400 ${path}: ${why}`);
  reply(res, 400, page("Bad request", `<body><p>${esc(why)}</p></body>`));
}

// The raw query, split without decoding: the redirect signature covers the octets as sent.
function rawParams(query) {
  const raw = {};
  for (const part of query.split("&")) {
    if (!part) continue;
    const i = part.indexOf("=");
    const k = decodeURIComponent((i < 0 ? part : part.slice(0, i)).replace(/\+/g, " "));
    if (!(k in raw)) raw[k] = i < 0 ? "" : part.slice(i + 1);
  }
  return raw;
}
const decode = (v) => decodeURIComponent(v.replace(/\+/g, " "));

async function sso(req, res, url) {
  let parsed, query;
  let signed = spSignsRequests;
  try {
    const raw = rawParams(url.search.slice(1));
    if (raw.SAMLRequest === undefined) throw new Error("no SAMLRequest");
    query = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, decode(v)]));
    const octetString = ["SAMLRequest", "RelayState", "SigAlg"]
      .filter((k) => raw[k] !== undefined)
      .map((k) => `${k}=${raw[k]}`)
      .join("&");
    parsed = await idp.parseLoginRequest(sp, "redirect", { query, octetString });
    if (!spSignsRequests && query.Signature !== undefined) {
      // Not required by the metadata, but sent: it still has to verify.
      if (query.SigAlg === undefined) throw new Error("Signature without SigAlg");
      const sig = Buffer.from(query.Signature, "base64");
      if (!SamlLib.verifyMessageSignature(sp.entityMeta, octetString, sig, query.SigAlg)) {
        throw new Error("the redirect signature does not verify");
      }
      signed = true;
    }
  } catch (e) {
    return bad(res, "/sso", `${e && e.message ? e.message : e}`);
  }
  // samlify checks the schema and the signature; the rest of the request is checked here.
  const request = parsed.extract.request || {};
  const issuer = parsed.extract.issuer;
  const { authn: extra = {} } = Extractor.extract(parsed.samlContent, [
    {
      key: "authn",
      localPath: ["AuthnRequest"],
      attributes: ["Version", "ForceAuthn", "IsPassive", "ProtocolBinding", "AssertionConsumerServiceIndex"],
    },
  ]);
  const acsList = [sp.entityMeta.getAssertionConsumerService()].flat().filter((a) => a && a.binding === BINDING_POST);
  let acs;
  if (request.assertionConsumerServiceUrl) {
    acs = acsList.find((a) => a.location === request.assertionConsumerServiceUrl)?.location;
  } else if (extra.assertionConsumerServiceIndex !== undefined && extra.assertionConsumerServiceIndex !== null) {
    acs = acsList.find((a) => a.index === extra.assertionConsumerServiceIndex)?.location;
  } else {
    acs = (acsList.find((a) => a.isDefault === "true") || acsList[0])?.location;
  }
  const issued = Date.parse(request.issueInstant);
  const problem =
    (!request.id && "no ID") ||
    (extra.version !== "2.0" && `Version ${extra.version}`) ||
    (issuer !== sp.entityMeta.getEntityID() && `unknown Issuer ${issuer}`) ||
    (request.destination && request.destination !== `${base}/sso` && `Destination ${request.destination}`) ||
    (!(Math.abs(Date.now() - issued) <= MAX_SKEW_MS) && `IssueInstant ${request.issueInstant}`) ||
    (extra.protocolBinding && extra.protocolBinding !== BINDING_POST && `ProtocolBinding ${extra.protocolBinding}`) ||
    (!acs && "no matching HTTP-POST AssertionConsumerService in the SP metadata");
  if (problem) return bad(res, "/sso", problem);
  const forceAuthn = extra.forceAuthn === "true" || extra.forceAuthn === "1";
  const key = randomBytes(24).toString("base64url");
  pending.set(key, { requestInfo: parsed, requestId: request.id, acs, relayState: query.RelayState });
  reply(
    res,
    200,
    page(
      "Sign in",
      `<body>\n<p id="request" data-request-id="${esc(request.id)}" data-force-authn="${forceAuthn}" data-signed="${signed}">` +
        `Sign in to ${esc(issuer)}</p>\n` +
        '<form method="post" action="/login">\n' +
        `<input type="hidden" name="key" value="${esc(key)}">\n` +
        '<input type="text" name="username" autofocus>\n' +
        '<button type="submit">Sign in</button>\n</form>\n</body>',
    ),
  );
}

async function login(req, res) {
  let body = "";
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  const username = form.get("username") || "";
  if (!username) return bad(res, "/login", "empty username");
  const state = pending.get(form.get("key") || "");
  pending.delete(form.get("key") || "");
  if (!state) return bad(res, "/login", "unknown or used key");
  const nameId = "p-" + createHash("sha256").update(username).digest("hex").slice(0, 16);
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60 * 1000);
  const { context } = await idp.createLoginResponse(sp, state.requestInfo, "post", {}, {
    relayState: state.relayState,
    customTagReplacement: (template) => {
      const id = idp.entitySetting.generateID();
      const context = SamlLib.replaceTagsByValue(template, {
        ID: id,
        AssertionID: idp.entitySetting.generateID(),
        SessionIndex: idp.entitySetting.generateID(),
        IssueInstant: now.toISOString(),
        NotBefore: now.toISOString(),
        NotOnOrAfter: later.toISOString(),
        Destination: state.acs,
        InResponseTo: state.requestId,
        Issuer: idp.entityMeta.getEntityID(),
        Audience: sp.entityMeta.getEntityID(),
        NameIDFormat: PERSISTENT,
        NameID: nameId,
        attrMail: `${username}@example.org`,
        attrDisplayName: `User ${username}`,
      });
      return { id, context };
    },
  });
  const relay =
    state.relayState === undefined ? "" : `<input type="hidden" name="RelayState" value="${esc(state.relayState)}">\n`;
  reply(
    res,
    200,
    page(
      "Continue",
      '<body onload="document.forms[0].submit()">\n' +
        `<form method="post" action="${esc(state.acs)}">\n` +
        `<input type="hidden" name="SAMLResponse" value="${esc(context)}">\n` +
        relay +
        '<noscript><button type="submit">Continue</button></noscript>\n</form>\n</body>',
    ),
  );
}

createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    if (req.method === "GET" && url.pathname === "/metadata") return reply(res, 200, metadata, "application/samlmetadata+xml");
    if (req.method === "GET" && url.pathname === "/sso") return await sso(req, res, url);
    if (req.method === "POST" && url.pathname === "/login") return await login(req, res);
    reply(res, 404, page("Not found", "<body><p>not found</p></body>"));
  } catch (e) {
    console.error(`samlify idp: 500 ${req.url.split("?")[0]}: ${e && e.stack ? e.stack : e}`);
    if (!res.headersSent) reply(res, 500, page("Error", "<body><p>internal error</p></body>"));
  }
}).listen(Number(port), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
