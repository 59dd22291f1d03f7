//! `metadata_signing_cert`: IdP metadata signed (with Debian's `xmlsec1`) by the configured
//! certificate is read, and a sign-in works; tampered metadata, unsigned metadata, and metadata
//! signed by another key are refused, from a file (a config problem naming file and key) and
//! from a URL (at load, and at every refresh: the last good metadata serves only until its own
//! `validUntil`). An `EntitiesDescriptor` aggregate is accepted only with the certificate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;
use crate::saml_sp::{IDP, SSO, SamlApp, post_acs, spawn_saml, start};
use crate::saml_support::{
    IdpKeys, idp_metadata, post_encode, signed_metadata, signed_metadata_referencing, signed_response,
};

/// An aggregate (a federation feed) holding another entity and `entity`.
fn aggregate(entity: &str) -> String {
    let other =
        idp_metadata("https://other.example.test/saml", "https://other.example.test/sso", &IdpKeys::generate("o"));
    format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" Name=\"https://federation.example.test\">{other}{entity}</md:EntitiesDescriptor>"
    )
}

/// Sign in through `s` with a fresh response signed by the IdP key; the ACS answer.
async fn sign_in(s: &SamlApp, name_id: &str) -> reqwest::Response {
    let b = browser();
    let started = start(s, &b, "/login/idp").await;
    let xml = signed_response(&s.spec(Some(&started), name_id), &s.keys);
    post_acs(s, &b, &post_encode(&xml), Some(&started.relay)).await
}

/// Point the provider `idp` of `s` at `source` (a `idp_metadata_*` line) with `extra`, and reload.
fn reconfigure(s: &SamlApp, source: &str, extra: &str) -> Vec<braid::config::ConfigProblem> {
    std::fs::write(
        s.app.dir().join("providers/idp.toml"),
        format!(
            "kind = \"saml\"\ndisplay_name = \"Test IdP\"\nissuer = \"{IDP}\"\n{source}\ntrust_email = true\n{extra}\n"
        ),
    )
    .unwrap();
    s.app.state.providers.reload()
}

#[tokio::test]
async fn metadata_signed_by_the_configured_certificate_is_read_and_a_sign_in_works() {
    let s = spawn_saml("").await;
    let federation = IdpKeys::generate("federation.example.test");
    std::fs::write(s.app.dir().join("providers/federation.pem"), &federation.cert_pem).unwrap();
    let signed = signed_metadata(&idp_metadata(IDP, SSO, &s.keys), "_md-1", &federation);
    std::fs::write(s.app.dir().join("providers/idp.xml"), &signed).unwrap();
    let problems = reconfigure(&s, "idp_metadata_file = \"idp.xml\"", "metadata_signing_cert = \"federation.pem\"");
    assert!(problems.is_empty(), "{problems:?}");
    let r = sign_in(&s, "p-signed-md").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(s.has_identity("p-signed-md").await);

    // A signed aggregate is fine too: braid picks its `issuer` out of it.
    let signed = signed_metadata(&aggregate(&idp_metadata(IDP, SSO, &s.keys)), "_feed-1", &federation);
    std::fs::write(s.app.dir().join("providers/idp.xml"), &signed).unwrap();
    let problems = reconfigure(&s, "idp_metadata_file = \"idp.xml\"", "metadata_signing_cert = \"federation.pem\"\n");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(sign_in(&s, "p-feed").await.status(), StatusCode::SEE_OTHER);
}

#[test]
fn tampered_unsigned_or_foreign_signed_metadata_is_a_config_problem_when_a_signing_cert_is_set() {
    let (idp, federation, attacker) =
        (IdpKeys::generate("idp"), IdpKeys::generate("federation"), IdpKeys::generate("attacker"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("federation.pem"), &federation.cert_pem).unwrap();
    let path = dir.path().join("idp.toml");
    let file = format!(
        "kind = \"saml\"\nissuer = \"{IDP}\"\nidp_metadata_file = \"idp.xml\"\nmetadata_signing_cert = \"federation.pem\"\n"
    );
    let parse = |xml: &str| {
        std::fs::write(dir.path().join("idp.xml"), xml).unwrap();
        braid::upstream::parse_file(&path, &file)
    };
    let signed = signed_metadata(&idp_metadata(IDP, SSO, &idp), "_md-1", &federation);
    assert!(parse(&signed).is_ok());
    // A reference to the whole document is fine too; to anything else, not.
    let whole = signed_metadata_referencing(&idp_metadata(IDP, SSO, &idp), "_md-1", "", &federation);
    assert!(parse(&whole).is_ok(), "{:?}", parse(&whole));
    let refused = |xml: &str, why: &str| {
        let e = parse(xml).unwrap_err();
        assert_eq!(e[0].key, "idp_metadata_file", "{e:?}");
        assert!(e[0].reason.contains("idp.xml") && e[0].reason.contains(why), "{}", e[0].reason);
    };
    // Tampered after signing: the IdP's certificate swapped for the attacker's, or the SSO URL moved.
    refused(&signed.replace(&idp.cert_der_b64(), &attacker.cert_der_b64()), "does not verify");
    refused(&signed.replace(SSO, "https://evil.example.test/sso"), "does not verify");
    // Unsigned, or signed by a key other than the configured one.
    refused(&idp_metadata(IDP, SSO, &idp), "not signed");
    refused(&signed_metadata(&idp_metadata(IDP, SSO, &idp), "_md-1", &attacker), "does not verify");
    // The signature must be on the root, naming it.
    let inner = signed.replacen(" ID=\"_md-1\"", "", 1);
    refused(&inner, "signature");
    let with_other_id =
        idp_metadata(IDP, SSO, &idp).replacen("<md:IDPSSODescriptor ", "<md:IDPSSODescriptor ID=\"_other\" ", 1);
    refused(&signed_metadata_referencing(&with_other_id, "_md-1", "#_other", &federation), "signature");

    // The certificate file itself must be a PEM certificate.
    std::fs::write(dir.path().join("federation.pem"), "not a certificate").unwrap();
    let e = parse(&signed).unwrap_err();
    assert_eq!(e[0].key, "metadata_signing_cert");
    assert!(e[0].reason.contains("federation.pem"), "{}", e[0].reason);
}

#[test]
fn an_aggregate_without_metadata_signing_cert_is_a_config_problem() {
    let idp = IdpKeys::generate("idp");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("idp.xml"), aggregate(&idp_metadata(IDP, SSO, &idp))).unwrap();
    let path = dir.path().join("idp.toml");
    let file = format!("kind = \"saml\"\nissuer = \"{IDP}\"\nidp_metadata_file = \"idp.xml\"\n");
    let e = braid::upstream::parse_file(&path, &file).unwrap_err();
    assert_eq!(e[0].key, "metadata_signing_cert", "{e:?}");
    assert!(e[0].reason.contains("EntitiesDescriptor"), "{}", e[0].reason);
}

/// Serves `body` at `http://127.0.0.1:{port}/md`; the body can be changed while it runs.
async fn serve_metadata(body: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/md", axum::routing::get(move || async move { body.lock().unwrap().clone() }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/md")
}

#[tokio::test]
async fn metadata_from_a_url_is_verified_at_every_refresh_and_fails_closed_at_its_valid_until() {
    let s = spawn_saml("").await;
    let federation = IdpKeys::generate("federation.example.test");
    std::fs::write(s.app.dir().join("providers/federation.pem"), &federation.cert_pem).unwrap();
    let until = braid::upstream::saml::sp::instant(s.now() + 3600);
    let with_valid_until = idp_metadata(IDP, SSO, &s.keys).replacen(
        "<md:EntityDescriptor ",
        &format!("<md:EntityDescriptor validUntil=\"{until}\" "),
        1,
    );
    let signed = signed_metadata(&with_valid_until, "_md-1", &federation);
    let body = Arc::new(Mutex::new(aggregate(&idp_metadata(IDP, SSO, &s.keys))));
    let url = serve_metadata(body.clone()).await;
    let source = format!("idp_metadata_url = \"{url}\"");

    // An unsigned aggregate without the certificate: refused when fetched, nothing changes.
    assert!(reconfigure(&s, &source, "").is_empty());
    let r = browser().get(s.app.url("/login/idp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("cannot be used right now"));

    // With the certificate: unsigned metadata refused; signed metadata read.
    let extra = "metadata_signing_cert = \"federation.pem\"\nmetadata_refresh_secs = 60";
    *body.lock().unwrap() = with_valid_until.clone();
    assert!(reconfigure(&s, &source, extra).is_empty());
    let r = browser().get(s.app.url("/login/idp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "unsigned metadata is refused");
    *body.lock().unwrap() = signed.clone();
    s.app.clock.advance(Duration::from_secs(31));
    assert_eq!(sign_in(&s, "p-url").await.status(), StatusCode::SEE_OTHER);

    // Tampered at a refresh: the last good metadata serves, only until its own validUntil.
    *body.lock().unwrap() = signed.replace(SSO, "https://evil.example.test/sso");
    s.app.clock.advance(Duration::from_secs(61));
    assert_eq!(sign_in(&s, "p-kept").await.status(), StatusCode::SEE_OTHER, "the last good metadata serves");
    s.app.clock.advance(Duration::from_secs(3600));
    let r = browser().get(s.app.url("/login/idp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "past its validUntil: fails closed");
}
