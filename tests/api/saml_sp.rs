//! braid as a SAML SP, over HTTP, with responses signed fresh by Debian's `xmlsec1`: the SP
//! metadata, the AuthnRequest, sign-in through the ACS in each signing mode (braid's tokens,
//! the same `sub` again), link flows with ForceAuthn, IdP-initiated sign-in only when allowed,
//! metadata without a signing certificate refused. `SamlApp` is shared with `saml_attacks`.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use braid::clock::Clock as _;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::saml_support::{IdpKeys, ResponseSpec, idp_metadata, post_encode, signed_response};

pub const IDP: &str = "https://idp.example.test/saml";
pub const SSO: &str = "https://idp.example.test/sso?realm=main";

/// A braid with one SAML provider `idp` whose metadata file holds `keys`' certificate.
pub struct SamlApp {
    pub app: TestApp,
    pub keys: IdpKeys,
}

/// An AuthnRequest braid sent, as the IdP sees it.
#[derive(Debug)]
pub struct Started {
    pub request_id: String,
    pub relay: String,
    pub xml: String,
    pub query: String,
}

impl SamlApp {
    pub fn acs(&self) -> String {
        self.app.url("/saml/idp/acs")
    }
    pub fn entity(&self) -> String {
        self.app.url("/saml/idp")
    }
    pub fn now(&self) -> i64 {
        self.app.clock.now_secs()
    }
    /// A response for `started` (or unsolicited) naming `name_id`, both signatures.
    pub fn spec(&self, started: Option<&Started>, name_id: &str) -> ResponseSpec {
        let mut s = ResponseSpec::new(
            IDP,
            &self.acs(),
            &self.entity(),
            started.map(|s| s.request_id.as_str()),
            name_id,
            self.now(),
        );
        s.attributes = vec![
            ("urn:oid:0.9.2342.19200300.100.1.3".into(), vec![format!("{name_id}@example.org")]),
            ("urn:oid:2.16.840.1.113730.3.1.241".into(), vec![format!("User {name_id}")]),
        ];
        s
    }
    /// Whether braid has an identity for `subject` at the IdP.
    pub async fn has_identity(&self, subject: &str) -> bool {
        self.app.state.accounts.find_identity(IDP, subject).await.unwrap().is_some()
    }
}

/// Start braid with a SAML provider; `provider_extra` is appended to its file.
pub async fn spawn_saml(provider_extra: &str) -> SamlApp {
    spawn_saml_with(provider_extra, "").await
}

/// As `spawn_saml`, with braid's `public_url` set when given.
pub async fn spawn_saml_with(provider_extra: &str, public_url: &str) -> SamlApp {
    spawn_saml_in(provider_extra, public_url, "memory").await
}

/// As `spawn_saml_with`, with the session store `sessions` (`memory` or a Redis URL).
pub async fn spawn_saml_in(provider_extra: &str, public_url: &str, sessions: &str) -> SamlApp {
    let keys = IdpKeys::generate("idp.example.test");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/idp.xml"), idp_metadata(IDP, SSO, &keys)).unwrap();
    std::fs::write(
        dir.path().join("providers/idp.toml"),
        format!(
            "kind = \"saml\"\ndisplay_name = \"Test IdP\"\nissuer = \"{IDP}\"\nidp_metadata_file = \"idp.xml\"\ntrust_email = true\n{provider_extra}\n"
        ),
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    let public_url = (!public_url.is_empty()).then(|| public_url.to_owned());
    let sessions = sessions.to_owned();
    let app = spawn_in(dir, move |d| {
        let mut s = settings(d, &url, &sessions, "");
        // The demo client is refused on a public URL.
        s.demo.enabled = s.demo.enabled && public_url.is_none();
        s.server.public_url = public_url;
        // The attack corpora post hundreds of responses from one address; the rate limits have
        // their own tests (`limits`).
        s.limits.callbacks_per_minute = 0;
        s.limits.sign_in_starts_per_minute = 0;
        s
    })
    .await;
    SamlApp { app, keys }
}

/// Decode an HTTP-Redirect `SAMLRequest` (base64, raw DEFLATE).
pub fn inflate_request(b64: &str) -> String {
    let raw = STANDARD.decode(b64).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&raw[..]).read_to_string(&mut out).unwrap();
    out
}

/// Follow `path` at braid until it sends the browser to the IdP; return the request.
pub async fn start(s: &SamlApp, b: &reqwest::Client, path: &str) -> Started {
    let mut url = s.app.url(path);
    for _ in 0..5 {
        let r = b.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}: {:?}", r.text().await);
        let to = location(&r);
        if to.starts_with("https://idp.example.test/") {
            assert!(to.starts_with("https://idp.example.test/sso?realm=main&SAMLRequest="), "{to}");
            let req = query_param(&to, "SAMLRequest").unwrap();
            let doc = inflate_request(&req);
            let parsed = roxmltree::Document::parse(&doc).unwrap();
            return Started {
                request_id: parsed.root_element().attribute("ID").unwrap().to_owned(),
                relay: query_param(&to, "RelayState").unwrap(),
                query: to.split_once('?').unwrap().1.to_owned(),
                xml: doc.clone(),
            };
        }
        url = if to.starts_with('/') { s.app.url(&to) } else { to };
    }
    panic!("braid never sent the browser to the IdP");
}

/// POST a response to the ACS as browser `b`.
pub async fn post_acs(s: &SamlApp, b: &reqwest::Client, saml_response: &str, relay: Option<&str>) -> reqwest::Response {
    let mut form = vec![("SAMLResponse", saml_response)];
    if let Some(r) = relay {
        form.push(("RelayState", r));
    }
    b.post(s.acs()).form(&form).send().await.unwrap()
}

/// Whether the response sets braid's session cookie.
pub fn sets_session(r: &reqwest::Response) -> bool {
    r.headers().get_all(reqwest::header::SET_COOKIE).iter().any(|v| {
        let v = v.to_str().unwrap_or("");
        v.starts_with("braid_session=") && !v.starts_with("braid_session=;")
    })
}

/// A refusal: an error page, no session, and no identity for any of `subjects`.
pub async fn assert_refused(s: &SamlApp, r: reqwest::Response, subjects: &[&str]) {
    let status = r.status();
    let session = sets_session(&r);
    let body = r.text().await.unwrap();
    assert!(status.is_client_error(), "expected a refusal, got {status}: {body}");
    assert!(!session, "a refused response must not set a session");
    assert!(body.contains("<h1>"), "a readable page: {body}");
    for subject in subjects {
        assert!(!s.has_identity(subject).await, "no identity for {subject} may be created");
    }
}

/// The whole flow: `/authorize` → braid → IdP (simulated) → ACS → code → tokens.
async fn sign_in_for_tokens(s: &SamlApp, name_id: &str, sign: (bool, bool)) -> serde_json::Value {
    let b = browser();
    let q = authorize_query(APP_ID, APP_CB, None, "n-1");
    let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
    let started = start(s, &b, &format!("/authorize?{qs}")).await;
    let mut spec = s.spec(Some(&started), name_id);
    (spec.sign_response, spec.sign_assertion) = sign;
    let r = post_acs(s, &b, &post_encode(&signed_response(&spec, &s.keys)), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let back = location(&r);
    assert!(back.starts_with(APP_CB), "{back}");
    let code = query_param(&back, "code").unwrap();
    let tokens: serde_json::Value = redeem(&s.app, &code).await.json().await.unwrap();
    verify_id_token(&s.app.base, tokens["id_token"].as_str().unwrap(), APP_ID).await
}

#[tokio::test]
async fn saml_sign_in_in_each_signing_mode_gives_tokens_and_the_same_sub_again() {
    let s = spawn_saml("want_assertions_signed = false").await;
    let first = sign_in_for_tokens(&s, "p-alice", (true, true)).await;
    assert_eq!(first["email"], "p-alice@example.org");
    assert_eq!(first["idp"], IDP);
    let again = sign_in_for_tokens(&s, "p-alice", (true, false)).await;
    assert_eq!(again["sub"], first["sub"], "the same person gets the same sub");
    let third = sign_in_for_tokens(&s, "p-alice", (false, true)).await;
    assert_eq!(third["sub"], first["sub"]);
    let other = sign_in_for_tokens(&s, "p-bob", (true, true)).await;
    assert_ne!(other["sub"], first["sub"], "another person gets another account");
}

#[tokio::test]
async fn sp_metadata_names_entity_acs_and_keys_and_the_request_is_fresh_and_bound() {
    let s = spawn_saml("").await;
    let r = reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "application/samlmetadata+xml");
    let xml = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("entityID"), Some(s.entity().as_str()));
    let acs = doc.descendants().find(|n| n.tag_name().name() == "AssertionConsumerService").unwrap();
    assert_eq!(acs.attribute("Location"), Some(s.acs().as_str()));
    let sp = doc.descendants().find(|n| n.tag_name().name() == "SPSSODescriptor").unwrap();
    assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
    let uses: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "KeyDescriptor")
        .filter_map(|n| n.attribute("use"))
        .collect();
    assert_eq!(uses, ["signing", "encryption"]);
    // The key pair is kept in keys/ and reused.
    let cert = std::fs::read_to_string(s.app.dir().join("keys/saml-sp-cert.pem")).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"));
    let again = reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap().text().await.unwrap();
    let cert_in = |x: &str| x.split("X509Certificate>").nth(1).unwrap().to_owned();
    assert_eq!(cert_in(&xml), cert_in(&again));

    let b = browser();
    let one = start(&s, &b, "/login/idp").await;
    let two = start(&s, &b, "/login/idp").await;
    assert_ne!(one.request_id, two.request_id);
    assert!(one.request_id.len() > 40, "a long random request ID: {}", one.request_id);
    assert_ne!(one.relay, two.relay);
    let doc = roxmltree::Document::parse(&one.xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("Destination"), Some(SSO));
    assert_eq!(root.attribute("AssertionConsumerServiceURL"), Some(s.acs().as_str()));
    assert_eq!(root.attribute("ForceAuthn"), None);
    assert!(one.xml.contains(&format!(">{}</saml:Issuer>", s.entity())));
    assert!(!one.query.contains("Signature="), "unsigned unless the IdP wants signed requests");
}

#[tokio::test]
async fn signed_authn_requests_verify_with_the_sp_certificate() {
    let s = spawn_saml("sign_requests = true").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    // The signature covers exactly SAMLRequest, RelayState and SigAlg as sent, not the SSO
    // URL's own query.
    let signed_part = started.query.strip_prefix("realm=main&").unwrap();
    let (payload, sig) = signed_part.split_once("&Signature=").unwrap();
    assert!(payload.contains("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"), "{payload}");
    let sig = STANDARD
        .decode(url::form_urlencoded::parse(format!("s={sig}").as_bytes()).next().unwrap().1.as_bytes())
        .unwrap();
    let cert =
        openssl::x509::X509::from_pem(&std::fs::read(s.app.dir().join("keys/saml-sp-cert.pem")).unwrap()).unwrap();
    let key = cert.public_key().unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    v.update(payload.as_bytes()).unwrap();
    assert!(v.verify(&sig).unwrap(), "the redirect signature verifies with the published SP certificate");
    let metadata = reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap().text().await.unwrap();
    assert!(metadata.contains("AuthnRequestsSigned=\"true\""));
}

#[tokio::test]
async fn unsolicited_responses_are_refused_unless_idp_initiated_sign_in_is_allowed() {
    let s = spawn_saml("").await;
    let b = browser();
    let xml = signed_response(&s.spec(None, "p-carol"), &s.keys);
    assert_refused(&s, post_acs(&s, &b, &post_encode(&xml), None).await, &["p-carol"]).await;

    let s = spawn_saml("allow_idp_initiated = true").await;
    let xml = signed_response(&s.spec(None, "p-carol"), &s.keys);
    // A RelayState the IdP chose (often a URL) is never followed.
    let r = post_acs(&s, &b, &post_encode(&xml), Some("https://evil.example/")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/account");
    assert!(sets_session(&r));
    assert!(s.has_identity("p-carol").await);
    // Every other check still applies: a response naming a request is not unsolicited.
    let xml = signed_response(&s.spec(Some(&start(&s, &browser(), "/login/idp").await), "p-dave"), &s.keys);
    assert_refused(&s, post_acs(&s, &browser(), &post_encode(&xml), None).await, &["p-dave"]).await;
}

#[tokio::test]
async fn metadata_without_a_signing_certificate_or_for_another_entity_is_refused() {
    let keys = IdpKeys::generate("x");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.toml");
    let no_cert = idp_metadata(IDP, SSO, &keys).replace(&keys.cert_der_b64(), "");
    let no_cert = no_cert.replace("<ds:X509Certificate></ds:X509Certificate>", "");
    std::fs::write(dir.path().join("idp.xml"), &no_cert).unwrap();
    let file = format!("kind = \"saml\"\nissuer = \"{IDP}\"\nidp_metadata_file = \"idp.xml\"\n");
    let e = braid::upstream::parse_file(&path, &file).unwrap_err();
    assert_eq!(e[0].key, "idp_metadata_file");
    assert!(e[0].reason.contains("no signing certificate"), "{}", e[0].reason);

    std::fs::write(dir.path().join("idp.xml"), idp_metadata(IDP, SSO, &keys)).unwrap();
    let other = "kind = \"saml\"\nissuer = \"https://other.example\"\nidp_metadata_file = \"idp.xml\"\n";
    let e = braid::upstream::parse_file(&path, other).unwrap_err();
    assert!(e[0].reason.contains("no entity `https://other.example`"), "{}", e[0].reason);
    let both = format!("{file}idp_metadata_url = \"https://idp.example.test/md\"\n");
    assert_eq!(braid::upstream::parse_file(&path, &both).unwrap_err()[0].key, "idp_metadata_file");
    let oidc_key = format!("{file}client_id = \"x\"\n");
    assert_eq!(braid::upstream::parse_file(&path, &oidc_key).unwrap_err()[0].key, "client_id");
    assert!(braid::upstream::parse_file(&path, &file).is_ok());
}

#[tokio::test]
async fn linking_a_saml_identity_forces_a_fresh_authentication() {
    let s = spawn_saml("").await;
    write_dev_provider(s.app.dir());
    s.app.state.providers.reload();
    let b = browser();
    let page = b.get(s.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let form = [("state", form_state(&page)), ("username", "dave".into()), ("email", "dave@example.com".into())];
    let r = b.post(s.app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let dev = s.app.state.accounts.find_identity("urn:braid:dev:dev", "dave").await.unwrap().unwrap();

    let link_start = |b: reqwest::Client| {
        let s = &s;
        async move {
            let html = b.get(s.app.url("/account")).send().await.unwrap().text().await.unwrap();
            let marker = "name=\"csrf\" value=\"";
            let at = html.find(marker).unwrap() + marker.len();
            let token = html[at..].split('"').next().unwrap().to_owned();
            let r = b.post(s.app.url("/account/link/idp")).form(&[("csrf", token)]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
            let to = location(&r);
            let doc = inflate_request(&query_param(&to, "SAMLRequest").unwrap());
            let id = roxmltree::Document::parse(&doc).unwrap().root_element().attribute("ID").unwrap().to_owned();
            assert!(doc.contains("ForceAuthn=\"true\""), "a link asks the IdP to authenticate again: {doc}");
            Started { request_id: id, relay: query_param(&to, "RelayState").unwrap(), xml: doc, query: String::new() }
        }
    };
    // The IdP answers with an old authentication (its session, not a fresh sign-in): refused.
    let started = link_start(b.clone()).await;
    let mut spec = s.spec(Some(&started), "p-dave");
    spec.now -= 200;
    let r = post_acs(&s, &b, &post_encode(&signed_response(&spec, &s.keys)), Some(&started.relay)).await;
    assert_refused(&s, r, &["p-dave"]).await;
    // A fresh authentication links the identity to the signed-in account.
    let started = link_start(b.clone()).await;
    let spec = s.spec(Some(&started), "p-dave");
    let r = post_acs(&s, &b, &post_encode(&signed_response(&spec, &s.keys)), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/account?done=linked");
    let linked = s.app.state.accounts.find_identity(IDP, "p-dave").await.unwrap().unwrap();
    assert_eq!(linked.account_id, dev.account_id);
}

#[tokio::test]
async fn on_https_a_cross_site_acs_post_is_sent_again_from_braids_origin_once() {
    let s = spawn_saml_with("", "https://braid.example.test").await;
    let form = [("SAMLResponse", "PHNhbWw+"), ("RelayState", "h&\"x")];
    let post = |site: Option<&'static str>, extra: Option<(&'static str, &'static str)>| {
        let mut f: Vec<(&str, &str)> = form.to_vec();
        if let Some(e) = extra {
            f.push(e);
        }
        let mut req = reqwest::Client::new().post(s.app.url("/saml/idp/acs")).form(&f);
        if let Some(v) = site {
            req = req.header("sec-fetch-site", v);
        }
        req.send()
    };
    let r = post(Some("cross-site"), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"/saml/idp/acs\""), "{html}");
    assert!(html.contains("name=\"RelayState\" value=\"h&amp;&quot;x\""), "escaped: {html}");
    assert!(html.contains("name=\"braid_bounced\""));
    assert!(html.contains("<script src=\"/saml/resubmit.js\">"));
    let js = reqwest::get(s.app.url("/saml/resubmit.js")).await.unwrap();
    assert_eq!(js.headers()[reqwest::header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    // The second POST (same origin, or already bounced) is handled: here refused, no cookie.
    for r in [
        post(Some("same-origin"), None).await.unwrap(),
        post(Some("cross-site"), Some(("braid_bounced", "1"))).await.unwrap(),
    ] {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
}

/// Sign in through `s` as browser-less IdP response for `name_id`; the ACS answer.
async fn try_sign_in(s: &SamlApp, keys: &IdpKeys, name_id: &str) -> reqwest::Response {
    let b = browser();
    let started = start(s, &b, "/login/idp").await;
    post_acs(s, &b, &post_encode(&signed_response(&s.spec(Some(&started), name_id), keys)), Some(&started.relay)).await
}

#[tokio::test]
async fn every_signing_certificate_is_honoured_and_metadata_is_read_again_at_its_cache_duration() {
    let s = spawn_saml("").await;
    let next = IdpKeys::generate("next.idp.example.test");
    // Not yet in the metadata: refused.
    assert_refused(&s, try_sign_in(&s, &next, "p-roll").await, &["p-roll"]).await;
    // The IdP publishes a second certificate (a key roll), with a one-minute cache duration.
    let both = idp_metadata(IDP, SSO, &s.keys).replace(
        "<md:NameIDFormat>",
        &format!(
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>",
            next.cert_der_b64()
        ),
    );
    let both = both.replacen("<md:EntityDescriptor ", "<md:EntityDescriptor cacheDuration=\"PT1M\" ", 1);
    std::fs::write(s.app.dir().join("providers/idp.xml"), &both).unwrap();
    // Read again only when due (braid's default refresh is six hours).
    s.app.clock.advance(std::time::Duration::from_secs(6 * 3600 + 1));
    assert_eq!(try_sign_in(&s, &next, "p-roll").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(try_sign_in(&s, &s.keys, "p-old").await.status(), StatusCode::SEE_OTHER, "both keys are honoured");
    // The old key is withdrawn: refused once the cache duration has passed, not before.
    let only_next = both.replace(&s.keys.cert_der_b64(), &next.cert_der_b64());
    std::fs::write(s.app.dir().join("providers/idp.xml"), only_next).unwrap();
    assert_eq!(try_sign_in(&s, &s.keys, "p-old").await.status(), StatusCode::SEE_OTHER);
    s.app.clock.advance(std::time::Duration::from_secs(61));
    assert_refused(&s, try_sign_in(&s, &s.keys, "p-gone").await, &["p-gone"]).await;
    assert_eq!(try_sign_in(&s, &next, "p-roll").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_subject_attribute_holding_a_name_id_keys_the_identity_and_a_transient_name_id_is_fine_then() {
    let s = spawn_saml("subject_attribute = \"urn:oid:1.3.6.1.4.1.5923.1.1.1.10\"").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let mut spec = s.spec(Some(&started), "_transient-123");
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into();
    let xml = crate::saml_support::signed_response_edited(&spec, &s.keys, |x| {
        x.replacen(
            "<saml:AttributeStatement>",
            "<saml:AttributeStatement><saml:Attribute Name=\"urn:oid:1.3.6.1.4.1.5923.1.1.1.10\"><saml:AttributeValue><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\" NameQualifier=\"https://idp.example.test/saml\">tid-4711</saml:NameID></saml:AttributeValue></saml:Attribute>",
            1,
        )
    });
    assert!(xml.contains("tid-4711"));
    let r = post_acs(&s, &b, &post_encode(&xml), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(s.has_identity("tid-4711").await, "eduPersonTargetedID's NameID text is the subject");
    assert!(!s.has_identity("_transient-123").await);
}

#[tokio::test]
async fn a_link_only_or_sign_in_disabled_provider_cannot_sign_in_even_idp_initiated() {
    for extra in ["on_new_identity = \"reject\"", "can_sign_in = false"] {
        let s = spawn_saml(&format!("allow_idp_initiated = true\n{extra}")).await;
        let xml = signed_response(&s.spec(None, "p-linkonly"), &s.keys);
        assert_refused(&s, post_acs(&s, &browser(), &post_encode(&xml), None).await, &["p-linkonly"]).await;
    }
}

#[tokio::test]
async fn metadata_past_its_valid_until_fails_closed() {
    let s = spawn_saml("allow_idp_initiated = true").await;
    let past = braid::upstream::saml::sp::instant(s.now() - 10);
    let expired = idp_metadata(IDP, SSO, &s.keys).replacen(
        "<md:EntityDescriptor ",
        &format!("<md:EntityDescriptor validUntil=\"{past}\" "),
        1,
    );
    std::fs::write(s.app.dir().join("providers/idp.xml"), expired).unwrap();
    let r = browser().get(s.app.url("/login/idp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("cannot be used right now"));
    // A response is refused too: nothing can be verified with expired metadata.
    let xml = signed_response(&s.spec(None, "p-late"), &s.keys);
    let r = post_acs(&s, &browser(), &post_encode(&xml), None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(!sets_session(&r) && !s.has_identity("p-late").await);
}
