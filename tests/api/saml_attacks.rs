//! SECURITY-CASES D against braid's ACS over HTTP, with responses signed fresh by `xmlsec1`:
//! XSW1–XSW8, comment injection, XXE and billion laughs, replay, InResponseTo from another
//! browser, a declared encoding other than UTF-8, wrong audience / destination / recipient, times outside (and inside) the skew, an
//! unsigned assertion where one must be signed, oversized and deflate-bomb messages, a
//! transient NameID, and RelayState values that must never be followed. Every refusal asserts
//! an error page, no session, and no identity for any subject in the message.

use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::saml_sp::{SamlApp, assert_refused, post_acs, sets_session, spawn_saml, start};
use crate::saml_support::{post_encode, signed_response, xsw};

const EVIL: &str = "attacker";

#[tokio::test]
async fn xsw1_to_xsw8_from_a_fresh_signed_response_are_refused() {
    let s = spawn_saml("want_assertions_signed = false").await;
    for n in 1..=8u8 {
        let b = browser();
        let started = start(&s, &b, "/login/idp").await;
        let mut spec = s.spec(Some(&started), "p-victim");
        // XSW1-2 wrap the Response's signature, XSW3-8 the Assertion's.
        (spec.sign_response, spec.sign_assertion) = if n <= 2 { (true, false) } else { (false, true) };
        let attack = xsw(&signed_response(&spec, &s.keys), n, EVIL);
        let r = post_acs(&s, &b, &post_encode(&attack), Some(&started.relay)).await;
        assert_refused(&s, r, &[EVIL, "p-victim"]).await;
    }
}

#[tokio::test]
async fn a_comment_in_the_name_id_is_refused_not_truncated() {
    let s = spawn_saml("").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let xml = signed_response(&s.spec(Some(&started), "attacker@evil.example.victim.example"), &s.keys);
    // Exclusive c14n drops comments, so the signature still verifies: a parser reading the first
    // text node would see `attacker@evil.example`.
    let injected = xml.replacen("attacker@evil.example.victim", "attacker@evil.example<!---->.victim", 1);
    assert_ne!(injected, xml);
    let r = post_acs(&s, &b, &post_encode(&injected), Some(&started.relay)).await;
    assert_refused(&s, r, &["attacker@evil.example", "attacker@evil.example.victim.example"]).await;
}

/// A loopback listener that never answers: `accept()` tells whether anyone connected.
fn silent_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn xxe_and_billion_laughs_are_refused_before_any_parser_or_fetch() {
    let s = spawn_saml("").await;
    let (listener, port) = silent_listener();
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let xml = signed_response(&s.spec(Some(&started), "p-xxe"), &s.keys);
    let xxe = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:{port}/leak\">]>{}",
        xml.replacen("p-xxe", "p-xxe&x;", 1)
    );
    assert_refused(&s, post_acs(&s, &b, &post_encode(&xxe), Some(&started.relay)).await, &["p-xxe"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(listener.accept().is_err(), "braid must never fetch an external entity");

    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
        laughs.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
    }
    laughs.push_str("]>");
    laughs.push_str(&signed_response(&s.spec(Some(&started), "p-lol"), &s.keys).replacen("p-lol", "&lol9;", 1));
    assert_refused(&s, post_acs(&s, &b, &post_encode(&laughs), Some(&started.relay)).await, &["p-lol"]).await;
}

#[tokio::test]
async fn a_declared_encoding_other_than_utf8_is_refused_before_any_parser_or_fetch() {
    let s = spawn_saml("").await;
    let (listener, port) = silent_listener();
    // `signed_response` writes no XML declaration: each case adds its own.
    // Markup hidden as UTF-7 text: a UTF-8 reader sees an Issuer; libxml2, obeying the
    // declaration, would see a Signature whose Reference it dereferences over HTTP.
    let utf7 = |markup: &str| markup.replace('<', "+ADw-").replace('>', "+AD4-").replace('"', "+ACI-");
    let hidden = utf7(&format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
         <ds:Reference URI=\"http://127.0.0.1:{port}/leak\">\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>AAAA</ds:DigestValue>\
         </ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    ));
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    // Base64 holds `+`, which UTF-7 reads as a shift: written `+-`, it stays a `+` to libxml2.
    let xml = signed_response(&s.spec(Some(&started), "p-utf7"), &s.keys).replace('+', "+-");
    let issuer_end = xml.find("</saml:Issuer>").expect("the response names its issuer");
    let smuggled =
        format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{}{hidden}{}", &xml[..issuer_end], &xml[issuer_end..]);
    let r = post_acs(&s, &b, &post_encode(&smuggled), Some(&started.relay)).await;
    assert_refused(&s, r, &["p-utf7"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(listener.accept().is_err(), "braid must never dereference a smuggled reference");

    // A plain declaration of another encoding, on an otherwise good response: refused.
    for encoding in ["UTF-7", "ISO-8859-1", "UTF-16"] {
        let b = browser();
        let started = start(&s, &b, "/login/idp").await;
        let xml = signed_response(&s.spec(Some(&started), "p-latin"), &s.keys);
        let declared = format!("<?xml version='1.0' encoding='{encoding}'?>{xml}");
        assert_refused(&s, post_acs(&s, &b, &post_encode(&declared), Some(&started.relay)).await, &["p-latin"]).await;
    }
    // Declared UTF-8 (either spelling and quote) is read as usual.
    for decl in ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<?xml version='1.0' encoding='utf-8'?>"] {
        let b = browser();
        let started = start(&s, &b, "/login/idp").await;
        let xml = signed_response(&s.spec(Some(&started), "p-utf8"), &s.keys);
        let r = post_acs(&s, &b, &post_encode(&format!("{decl}{xml}")), Some(&started.relay)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{decl}: {:?}", r.text().await);
    }
    assert!(s.has_identity("p-utf8").await);
}

#[tokio::test]
async fn key_info_in_the_message_is_never_dereferenced() {
    let s = spawn_saml("").await;
    let (listener, port) = silent_listener();
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let xml = signed_response(&s.spec(Some(&started), "p-keyinfo"), &s.keys);
    // KeyInfo is outside SignedInfo: rewriting it leaves the signature valid.
    let (head, rest) = xml.split_once("<ds:KeyInfo>").expect("the signature carries a KeyInfo");
    let (_, tail) = rest.split_once("</ds:KeyInfo>").unwrap();
    let fetched = format!(
        "{head}<ds:KeyInfo><ds:RetrievalMethod URI=\"http://127.0.0.1:{port}/key\" \
         Type=\"http://www.w3.org/2000/09/xmldsig#X509Data\"/></ds:KeyInfo>{tail}"
    );
    let r = post_acs(&s, &b, &post_encode(&fetched), Some(&started.relay)).await;
    // Verified with the metadata's certificate alone, whatever KeyInfo says.
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(listener.accept().is_err(), "braid must never follow a RetrievalMethod");
}

#[tokio::test]
async fn the_same_response_is_accepted_once() {
    let s = spawn_saml("allow_idp_initiated = true").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let solicited = post_encode(&signed_response(&s.spec(Some(&started), "p-once"), &s.keys));
    let r = post_acs(&s, &b, &solicited, Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Posted again: the request it answers was taken; and it is not unsolicited.
    let again = post_acs(&s, &b, &solicited, Some(&started.relay)).await;
    assert!(again.status().is_client_error() && !sets_session(&again), "{}", again.status());
    let fresh = browser();
    let again = post_acs(&s, &fresh, &solicited, None).await;
    assert!(again.status().is_client_error() && !sets_session(&again));

    // An unsolicited response carries no request: the assertion-ID cache stops its replay.
    let unsolicited = post_encode(&signed_response(&s.spec(None, "p-replay"), &s.keys));
    let first = post_acs(&s, &browser(), &unsolicited, None).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let replay = post_acs(&s, &browser(), &unsolicited, None).await;
    let body_status = replay.status();
    assert!(body_status.is_client_error() && !sets_session(&replay), "replay refused: {body_status}");
    // Still refused later, while the assertion could otherwise pass.
    s.app.clock.advance(Duration::from_secs(200));
    let replay = post_acs(&s, &browser(), &unsolicited, None).await;
    assert!(replay.status().is_client_error() && !sets_session(&replay));
}

#[tokio::test]
async fn a_response_for_another_browsers_request_is_refused() {
    let s = spawn_saml("").await;
    let (alice, mallory) = (browser(), browser());
    let a = start(&s, &alice, "/login/idp").await;
    let m = start(&s, &mallory, "/login/idp").await;
    let for_alice = post_encode(&signed_response(&s.spec(Some(&a), "p-alice"), &s.keys));
    // Mallory posts Alice's response under her own request: InResponseTo names Alice's.
    assert_refused(&s, post_acs(&s, &mallory, &for_alice, Some(&m.relay)).await, &["p-alice"]).await;
    // Or with Alice's RelayState: Mallory's browser does not hold its cookie.
    assert_refused(&s, post_acs(&s, &mallory, &for_alice, Some(&a.relay)).await, &["p-alice"]).await;
    // Alice's own browser still finishes.
    let r = post_acs(&s, &alice, &for_alice, Some(&a.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
}

async fn refused_with(s: &SamlApp, subject: &str, mutate: impl FnOnce(&mut crate::saml_support::ResponseSpec)) {
    let b = browser();
    let started = start(s, &b, "/login/idp").await;
    let mut spec = s.spec(Some(&started), subject);
    mutate(&mut spec);
    let r = post_acs(s, &b, &post_encode(&signed_response(&spec, &s.keys)), Some(&started.relay)).await;
    assert_refused(s, r, &[subject]).await;
}

async fn accepted_with(s: &SamlApp, subject: &str, mutate: impl FnOnce(&mut crate::saml_support::ResponseSpec)) {
    let b = browser();
    let started = start(s, &b, "/login/idp").await;
    let mut spec = s.spec(Some(&started), subject);
    mutate(&mut spec);
    let r = post_acs(s, &b, &post_encode(&signed_response(&spec, &s.keys)), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(s.has_identity(subject).await);
}

#[tokio::test]
async fn wrong_audience_destination_recipient_or_issuer_is_refused() {
    let s = spawn_saml("").await;
    refused_with(&s, "p-aud", |r| r.audience = Some("https://other-sp.example/".into())).await;
    refused_with(&s, "p-noaud", |r| r.audience = None).await;
    refused_with(&s, "p-dest", |r| r.destination = Some("https://other-sp.example/acs".into())).await;
    refused_with(&s, "p-emptydest", |r| r.destination = Some(String::new())).await;
    refused_with(&s, "p-nodest", |r| r.destination = None).await;
    refused_with(&s, "p-recipient", |r| r.recipient = Some("https://other-sp.example/acs".into())).await;
    refused_with(&s, "p-issuer", |r| r.issuer = "https://other-idp.example".into()).await;
    refused_with(&s, "p-status", |r| r.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into()).await;
    refused_with(&s, "p-transient", |r| {
        r.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into()
    })
    .await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_assertions_are_refused_outside_the_skew_only() {
    // The default skew is 60 s.
    let s = spawn_saml("").await;
    let now = s.now();
    refused_with(&s, "p-expired", |r| r.not_on_or_after = now - 61).await;
    refused_with(&s, "p-future", |r| r.not_before = now + 61).await;
    refused_with(&s, "p-old", |r| {
        r.now = now - 400;
        r.not_before = now - 400;
    })
    .await;
    accepted_with(&s, "p-just-expired", |r| r.not_on_or_after = now - 30).await;
    accepted_with(&s, "p-almost-valid", |r| r.not_before = now + 30).await;
}

#[tokio::test]
async fn an_unsigned_assertion_in_a_signed_response_is_refused_when_assertions_must_be_signed() {
    let s = spawn_saml("").await;
    refused_with(&s, "p-unsigned", |r| (r.sign_response, r.sign_assertion) = (true, false)).await;
    refused_with(&s, "p-nothing", |r| (r.sign_response, r.sign_assertion) = (false, false)).await;
    // The same is accepted where the provider accepts a signed response alone.
    let s = spawn_saml("want_assertions_signed = false").await;
    accepted_with(&s, "p-unsigned", |r| (r.sign_response, r.sign_assertion) = (true, false)).await;
    refused_with(&s, "p-nothing", |r| (r.sign_response, r.sign_assertion) = (false, false)).await;
}

#[tokio::test]
async fn oversized_and_deflate_bomb_messages_are_refused_before_decoding() {
    let s = spawn_saml("").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    // A body over the ACS limit: 413 before the form is read.
    let huge = "A".repeat(600 * 1024);
    let r = post_acs(&s, &b, &huge, Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Under the body limit but over the message limit: refused before base64 decoding.
    let big = STANDARD.encode(vec![b'<'; 300 * 1024]);
    assert_refused(&s, post_acs(&s, &b, &big, Some(&started.relay)).await, &[]).await;
    // 10 MiB of zeros deflated to a few KiB: the POST binding is never inflated, so it is not XML.
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 10 * 1024 * 1024]).unwrap();
    let bomb = STANDARD.encode(z.finish().unwrap());
    assert!(bomb.len() < 64 * 1024);
    let started = start(&s, &b, "/login/idp").await;
    assert_refused(&s, post_acs(&s, &b, &bomb, Some(&started.relay)).await, &[]).await;
}

fn open_redirects() -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oauth2-proxy/openredirects.txt"))
            .unwrap();
    text.lines()
        .map(|l| {
            url::form_urlencoded::parse(format!("v={l}").as_bytes())
                .next()
                .map_or(String::new(), |(_, v)| v.into_owned())
        })
        .collect()
}

#[tokio::test]
async fn relay_state_is_a_handle_and_never_followed() {
    let payloads = open_redirects();
    assert_eq!(payloads.len(), 559);
    let s = spawn_saml("").await;
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let genuine = post_encode(&signed_response(&s.spec(Some(&started), "p-relay"), &s.keys));
    // A RelayState that is not this browser's handle is refused, whatever it says.
    for p in &payloads {
        let r = post_acs(&s, &b, &genuine, Some(p)).await;
        assert!(r.status().is_client_error(), "{p}: {}", r.status());
        assert!(r.headers().get(reqwest::header::LOCATION).is_none(), "{p} must not be followed");
        assert!(!sets_session(&r));
    }
    assert!(!s.has_identity("p-relay").await);
    // The attempt is still there: only the handle finishes it.
    let r = post_acs(&s, &b, &genuine, Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");

    // IdP-initiated: the IdP's RelayState is ignored, the person lands on their account page.
    let s = spawn_saml("allow_idp_initiated = true").await;
    for p in payloads.iter().step_by(37) {
        let unsolicited = post_encode(&signed_response(&s.spec(None, "p-idp-init"), &s.keys));
        let r = post_acs(&s, &browser(), &unsolicited, Some(p)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{p}");
        assert_eq!(location(&r), "/account", "{p} must not be followed");
    }
}
