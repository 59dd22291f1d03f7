//! Interop with two real, independent SAML 2.0 IdPs (pysaml2 and samlify, `tests/interop/`),
//! started on loopback with braid's SP metadata: sign-in through each in each signing mode
//! (`response`, `assertion`, `both`) gives braid's tokens, the same `sub` again and another
//! `sub` for another person; an unsigned assertion is refused once braid wants it signed;
//! signed AuthnRequests verify at both; a link asks for ForceAuthn.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::saml_sp::inflate_request;

/// A child process, killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone, Copy, Debug)]
enum Idp {
    Pysaml2,
    Samlify,
}

impl Idp {
    /// The provider ID in braid (and the folder under `tests/interop/`).
    fn id(self) -> &'static str {
        match self {
            Idp::Pysaml2 => "pysaml2",
            Idp::Samlify => "samlify",
        }
    }

    fn command(self, port: u16, sp_metadata: &std::path::Path, mode: &str) -> Command {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop").join(self.id());
        let (program, script, installed) = match self {
            Idp::Pysaml2 => (dir.join(".venv/bin/python"), "idp.py", dir.join(".venv/bin/python")),
            Idp::Samlify => ("node".into(), "server.mjs", dir.join("node_modules/samlify")),
        };
        assert!(installed.exists(), "run scripts/test (it installs the interop IdPs): no {}", installed.display());
        let mut c = Command::new(program);
        c.current_dir(&dir).arg(script).arg(port.to_string()).arg(sp_metadata).arg(mode);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// braid with one SAML provider named after the IdP, and that IdP running with braid's SP
/// metadata in `mode`.
struct Interop {
    app: TestApp,
    idp: Idp,
    /// `http://127.0.0.1:<port>`.
    idp_base: String,
    /// The IdP's entity ID (and braid's `issuer` for it).
    issuer: String,
    _peer: Peer,
}

async fn setup(idp: Idp, mode: &str, provider_extra: &str) -> Interop {
    let port = free_port();
    let idp_base = format!("http://127.0.0.1:{port}");
    let issuer = format!("{idp_base}/metadata");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let want_assertions_signed = if mode == "response" { "want_assertions_signed = false\n" } else { "" };
    // braid fetches the IdP metadata on first use, so it can start before the IdP.
    std::fs::write(
        dir.path().join(format!("providers/{}.toml", idp.id())),
        format!(
            "kind = \"saml\"\ndisplay_name = \"{id}\"\nissuer = \"{issuer}\"\nidp_metadata_url = \"{issuer}\"\n\
             trust_email = true\n{want_assertions_signed}{provider_extra}\n",
            id = idp.id()
        ),
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", "")).await;

    let r = reqwest::get(app.url(&format!("/saml/{}/metadata", idp.id()))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sp_metadata = r.text().await.unwrap();
    let want = if mode == "response" { "WantAssertionsSigned=\"false\"" } else { "WantAssertionsSigned=\"true\"" };
    assert!(sp_metadata.contains(want), "{sp_metadata}");
    let md_path = app.dir().join("sp-metadata.xml");
    std::fs::write(&md_path, &sp_metadata).unwrap();

    // Quiet unless something is refused: stderr names the IdP's reason in the test output.
    let child = idp.command(port, &md_path, mode).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut peer = Peer(child);
    for _ in 0..300 {
        if reqwest::get(&issuer).await.is_ok_and(|r| r.status().is_success()) {
            return Interop { app, idp, idp_base, issuer, _peer: peer };
        }
        if let Some(status) = peer.0.try_wait().unwrap() {
            panic!("{} exited: {status}", idp.id());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} did not start", idp.id());
}

/// What the IdP's login page said about braid's AuthnRequest.
#[derive(Debug)]
struct Seen {
    signed: bool,
    force_authn: bool,
}

/// `<marker>"…"` in `html`, HTML-unescaped.
fn attr(html: &str, marker: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}")) + marker.len();
    let raw = html[start..].strip_prefix('"').expect("a quoted value");
    unescape(raw.split('"').next().unwrap())
}

/// Undo HTML escaping of an attribute value: named entities and numeric references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').expect("an entity ends with `;`") + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).unwrap()
                } else {
                    entity.strip_prefix('#').unwrap_or_else(|| panic!("unknown entity &{entity};")).parse().unwrap()
                };
                char::from_u32(n).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

impl Interop {
    fn acs(&self) -> String {
        self.app.url(&format!("/saml/{}/acs", self.idp.id()))
    }

    /// The NameID both IdPs give `username`: `p-` + 16 hex digits of sha256.
    fn name_id(username: &str) -> String {
        let d = openssl::sha::sha256(username.as_bytes());
        format!("p-{}", d[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Follow braid's redirects from `path` until braid sends the browser to the IdP's SSO URL.
    async fn to_idp(&self, b: &reqwest::Client, path: &str) -> String {
        let mut url = self.app.url(path);
        for _ in 0..5 {
            let r = b.get(&url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}: {:?}", r.text().await);
            let to = location(&r);
            if to.starts_with(&self.idp_base) {
                assert!(to.starts_with(&format!("{}/sso?SAMLRequest=", self.idp_base)), "{to}");
                return to;
            }
            assert!(to.starts_with('/'), "braid's own redirects are relative: {to}");
            url = self.app.url(&to);
        }
        panic!("braid never sent the browser to the IdP");
    }

    /// At the IdP: the SSO URL braid sent, the login page, sign-in as `username`, and the
    /// auto-POST form carried to braid's ACS. Returns what the IdP saw and braid's answer.
    async fn through_idp(&self, b: &reqwest::Client, sso: &str, username: &str) -> (Seen, reqwest::Response) {
        let request_id = {
            let xml = inflate_request(&query_param(sso, "SAMLRequest").unwrap());
            let doc = roxmltree::Document::parse(&xml).unwrap();
            doc.root_element().attribute("ID").unwrap().to_owned()
        };
        let relay = query_param(sso, "RelayState").expect("braid sends a RelayState");

        let r = b.get(sso).send().await.unwrap();
        let status = r.status();
        let page = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{} accepts braid's AuthnRequest: {page}", self.idp.id());
        assert_eq!(attr(&page, "data-request-id="), request_id);
        let seen = Seen {
            signed: attr(&page, "data-signed=") == "true",
            force_authn: attr(&page, "data-force-authn=") == "true",
        };
        let key = attr(&page, "name=\"key\" value=");

        let r = b
            .post(format!("{}/login", self.idp_base))
            .form(&[("key", key.as_str()), ("username", username)])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let page = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{page}");
        let action = attr(&page, "action=");
        assert_eq!(action, self.acs(), "the IdP posts to braid's ACS from the SP metadata");
        let saml_response = attr(&page, "name=\"SAMLResponse\" value=");
        let relay_back = attr(&page, "name=\"RelayState\" value=");
        assert_eq!(relay_back, relay, "RelayState comes back unchanged");

        let r = b
            .post(&action)
            .form(&[("SAMLResponse", saml_response.as_str()), ("RelayState", relay_back.as_str())])
            .send()
            .await
            .unwrap();
        (seen, r)
    }

    /// `/authorize` → braid → IdP → ACS → code → tokens; returns the ID token's claims.
    async fn sign_in_for_tokens(&self, username: &str) -> (Seen, Value) {
        let b = browser();
        let q = authorize_query(APP_ID, APP_CB, None, "n-interop");
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
        let sso = self.to_idp(&b, &format!("/authorize?{qs}")).await;
        let (seen, r) = self.through_idp(&b, &sso, username).await;
        let status = r.status();
        let back = r.headers().get(reqwest::header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        let id = self.idp.id();
        assert_eq!(status, StatusCode::SEE_OTHER, "braid's ACS accepts {id}'s answer: {:?}", r.text().await);
        let back = back.unwrap();
        assert!(back.starts_with(APP_CB), "{back}");
        assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
        let code = query_param(&back, "code").unwrap();
        let r = redeem(&self.app, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let tokens: Value = r.json().await.unwrap();
        let claims = verify_id_token(&self.app.base, tokens["id_token"].as_str().unwrap(), APP_ID).await;
        assert_eq!(claims["nonce"], "n-interop");
        (seen, claims)
    }
}

/// alice, alice again, then bob: tokens with the IdP's attributes, the same `sub` for the same
/// person and another for another. Returns what the IdP saw of the first request.
async fn people_sign_in(t: &Interop) -> Seen {
    let mut subs = Vec::new();
    let mut first = None;
    for person in ["alice", "alice", "bob"] {
        let (seen, claims) = t.sign_in_for_tokens(person).await;
        assert!(!seen.force_authn, "a sign-in does not force re-authentication");
        assert_eq!(claims["idp"], t.issuer.as_str());
        assert_eq!(claims["email"], format!("{person}@example.org"));
        assert_eq!(claims["email_verified"], true, "trust_email");
        assert_eq!(claims["name"], format!("User {person}"));
        subs.push(claims["sub"].clone());
        first.get_or_insert(seen);
    }
    assert_eq!(subs[0], subs[1], "the same person gets the same sub");
    assert_ne!(subs[0], subs[2], "another person gets another account");
    let alice = t
        .app
        .state
        .accounts
        .find_identity(&t.issuer, &Interop::name_id("alice"))
        .await
        .unwrap()
        .expect("identity keyed on (IdP entity ID, NameID)");
    assert_eq!(alice.account_id.as_str(), subs[0].as_str().unwrap());
    first.unwrap()
}

/// Sign-in with the Response signed and the Assertion not: accepted while the provider says
/// `want_assertions_signed = false`, refused once it wants signed assertions.
async fn response_signed(idp: Idp) {
    let t = setup(idp, "response", "").await;
    let seen = people_sign_in(&t).await;
    assert!(!seen.signed, "braid signs AuthnRequests only when asked");

    let file = t.app.dir().join(format!("providers/{}.toml", idp.id()));
    let text = std::fs::read_to_string(&file).unwrap().replace("want_assertions_signed = false\n", "");
    std::fs::write(&file, text).unwrap();
    assert!(t.app.state.providers.reload().is_empty());
    let b = browser();
    let q = authorize_query(APP_ID, APP_CB, None, "n-interop");
    let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
    let sso = t.to_idp(&b, &format!("/authorize?{qs}")).await;
    let (_, r) = t.through_idp(&b, &sso, "carol").await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(status.is_client_error(), "an unsigned assertion is refused: {status} {body}");
    assert!(t.app.state.accounts.find_identity(&t.issuer, &Interop::name_id("carol")).await.unwrap().is_none());
}

/// Sign-in with the Assertion signed and the Response not.
async fn assertion_signed(idp: Idp) {
    let t = setup(idp, "assertion", "").await;
    let seen = people_sign_in(&t).await;
    assert!(!seen.signed, "braid signs AuthnRequests only when asked");
}

/// Both signed, and `sign_requests = true`: the SP metadata says AuthnRequestsSigned, the IdP
/// requires the redirect signature and verifies it with the SP certificate, and sign-in works.
/// Then a person signed in with the dev provider links their identity at the IdP: braid asks for
/// ForceAuthn (signed too), the IdP sees it, and the identity joins the signed-in account.
async fn both_signed_with_signed_requests_and_a_link(idp: Idp) {
    let t = setup(idp, "both", "sign_requests = true").await;
    let md = reqwest::get(t.app.url(&format!("/saml/{}/metadata", idp.id()))).await.unwrap().text().await.unwrap();
    assert!(md.contains("AuthnRequestsSigned=\"true\""), "{md}");
    let seen = people_sign_in(&t).await;
    assert!(seen.signed, "{} verified braid's signed AuthnRequest", idp.id());

    write_dev_provider(t.app.dir());
    assert!(t.app.state.providers.reload().is_empty());
    let b = browser();
    let page = b.get(t.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let form = [("state", form_state(&page)), ("username", "dave".into()), ("email", "dave@example.com".into())];
    let r = b.post(t.app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let dev = t.app.state.accounts.find_identity("urn:braid:dev:dev", "dave").await.unwrap().unwrap();

    let html = b.get(t.app.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = attr(&html, "name=\"csrf\" value=");
    let r = b.post(t.app.url(&format!("/account/link/{}", idp.id()))).form(&[("csrf", csrf)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let sso = location(&r);
    assert!(sso.starts_with(&format!("{}/sso?SAMLRequest=", t.idp_base)), "{sso}");
    let (seen, r) = t.through_idp(&b, &sso, "dave").await;
    assert!(seen.force_authn, "{} parsed ForceAuthn=\"true\"", idp.id());
    assert!(seen.signed);
    let status = r.status();
    let back = r.headers().get(reqwest::header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
    assert_eq!(status, StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(back.as_deref(), Some("/account?done=linked"));
    let linked = t.app.state.accounts.find_identity(&t.issuer, &Interop::name_id("dave")).await.unwrap().unwrap();
    assert_eq!(linked.account_id, dev.account_id);
    assert_eq!(linked.email.as_deref(), Some("dave@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signing_the_response() {
    response_signed(Idp::Pysaml2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signing_the_assertion() {
    assertion_signed(Idp::Pysaml2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signing_both_with_signed_requests_and_a_link() {
    both_signed_with_signed_requests_and_a_link(Idp::Pysaml2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samlify_signing_the_response() {
    response_signed(Idp::Samlify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samlify_signing_the_assertion() {
    assertion_signed(Idp::Samlify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samlify_signing_both_with_signed_requests_and_a_link() {
    both_signed_with_signed_requests_and_a_link(Idp::Samlify).await;
}
