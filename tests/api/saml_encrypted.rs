//! Encrypted assertions over HTTP (SECURITY-CASES 57): an assertion encrypted for braid's SP
//! certificate (RSA-OAEP key transport, AES-256-GCM content, or AES-128-CBC for a provider with
//! `allow_cbc_encryption`, built here with openssl) is decrypted and its own signature verified;
//! AES-CBC without the opt-in, an unsigned one, one encrypted for another key, one with RSA
//! PKCS#1 v1.5 key transport, and one holding two assertions are refused cleanly. The SP
//! metadata offers CBC only to a provider that allows it. Also an IdP's error status shown as
//! such.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{PKey, Public};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::saml_sp::{SamlApp, assert_refused, post_acs, spawn_saml, start};
use crate::saml_support::{post_encode, signed_response};

const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA15: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

fn sp_public_key(s: &SamlApp) -> PKey<Public> {
    let pem = std::fs::read(s.app.dir().join("keys/saml-sp-cert.pem")).unwrap();
    openssl::x509::X509::from_pem(&pem).unwrap().public_key().unwrap()
}

/// `<saml:EncryptedAssertion>` holding `plain`, for `key`.
fn encrypt(plain: &str, key: &PKey<Public>, key_transport: &str, gcm: bool) -> String {
    let mut content_key = vec![0u8; if gcm { 32 } else { 16 }];
    openssl::rand::rand_bytes(&mut content_key).unwrap();
    let (data_alg, data) = if gcm {
        let mut iv = [0u8; 12];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        let mut tag = [0u8; 16];
        let ct = openssl::symm::encrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            &content_key,
            Some(&iv),
            &[],
            plain.as_bytes(),
            &mut tag,
        )
        .unwrap();
        ("http://www.w3.org/2009/xmlenc11#aes256-gcm", [&iv[..], &ct, &tag].concat())
    } else {
        let mut iv = [0u8; 16];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        // XML Encryption padding: the last byte gives the pad length.
        let mut padded = plain.as_bytes().to_vec();
        let pad = 16 - padded.len() % 16;
        padded.extend(std::iter::repeat_n(pad as u8, pad));
        let mut c = openssl::symm::Crypter::new(
            openssl::symm::Cipher::aes_128_cbc(),
            openssl::symm::Mode::Encrypt,
            &content_key,
            Some(&iv),
        )
        .unwrap();
        c.pad(false);
        let mut out = vec![0u8; padded.len() + 16];
        let mut n = c.update(&padded, &mut out).unwrap();
        n += c.finalize(&mut out[n..]).unwrap();
        out.truncate(n);
        ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", [&iv[..], &out].concat())
    };
    let mut enc = openssl::encrypt::Encrypter::new(key).unwrap();
    let padding = if key_transport == OAEP { openssl::rsa::Padding::PKCS1_OAEP } else { openssl::rsa::Padding::PKCS1 };
    enc.set_rsa_padding(padding).unwrap();
    let mut wrapped = vec![0u8; enc.encrypt_len(&content_key).unwrap()];
    let n = enc.encrypt(&content_key, &mut wrapped).unwrap();
    wrapped.truncate(n);
    format!(
        "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><xenc:EncryptionMethod Algorithm=\"{data_alg}\"/><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm=\"{key_transport}\"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>",
        STANDARD.encode(wrapped),
        STANDARD.encode(data)
    )
}

/// The response `signed` (assertion signed, response not) with its assertion replaced by
/// `replace(assertion)`.
fn with_assertion(signed: &str, replace: impl FnOnce(&str) -> String) -> String {
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    format!("{}{}{}", &signed[..start], replace(&signed[start..end]), &signed[end..])
}

async fn post_encrypted(
    s: &SamlApp,
    name_id: &str,
    sign_assertion: bool,
    encrypt_with: impl FnOnce(&str) -> String,
) -> reqwest::Response {
    let b = browser();
    let started = start(s, &b, "/login/idp").await;
    let mut spec = s.spec(Some(&started), name_id);
    (spec.sign_response, spec.sign_assertion) = (false, sign_assertion);
    let xml = with_assertion(&signed_response(&spec, &s.keys), encrypt_with);
    assert!(!xml.contains(name_id), "the NameID is inside the ciphertext only");
    post_acs(s, &b, &post_encode(&xml), Some(&started.relay)).await
}

#[tokio::test]
async fn an_assertion_encrypted_for_braid_is_decrypted_and_its_own_signature_verified() {
    let s = spawn_saml("allow_cbc_encryption = true").await;
    // Makes the SP key pair, then publishes its certificate.
    assert_eq!(reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap().status(), StatusCode::OK);
    let key = sp_public_key(&s);
    for (name, gcm) in [("p-cbc", false), ("p-gcm", true)] {
        let r = post_encrypted(&s, name, true, |a| encrypt(a, &key, OAEP, gcm)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}: {:?}", r.text().await);
        assert!(s.has_identity(name).await);
    }
    // Unsigned inside, unsigned outside: refused.
    let r = post_encrypted(&s, "p-unsigned", false, |a| encrypt(a, &key, OAEP, false)).await;
    assert_refused(&s, r, &["p-unsigned"]).await;
    // Signed, then altered before encryption: the signature is checked after decryption.
    let r = post_encrypted(&s, "p-altered", true, |a| encrypt(&a.replace("p-altered", "p-alteree"), &key, OAEP, false))
        .await;
    assert_refused(&s, r, &["p-altered", "p-alteree"]).await;
}

#[tokio::test]
async fn wrong_key_pkcs1_transport_and_two_assertions_in_one_encryption_are_refused() {
    // CBC allowed, so that each is refused for its own reason.
    let s = spawn_saml("allow_cbc_encryption = true").await;
    assert_eq!(reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap().status(), StatusCode::OK);
    let key = sp_public_key(&s);
    let other = PKey::public_key_from_pem(
        &PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap().public_key_to_pem().unwrap(),
    )
    .unwrap();
    let r = post_encrypted(&s, "p-other", true, |a| encrypt(a, &other, OAEP, false)).await;
    assert_refused(&s, r, &["p-other"]).await;
    let r = post_encrypted(&s, "p-pkcs1", true, |a| encrypt(a, &key, RSA15, false)).await;
    assert_refused(&s, r, &["p-pkcs1"]).await;
    let r = post_encrypted(&s, "p-two", true, |a| encrypt(&format!("{a}{a}"), &key, OAEP, false)).await;
    assert_refused(&s, r, &["p-two"]).await;
}

/// The `Algorithm`s of the SP metadata's `EncryptionMethod`s, in order.
async fn advertised(s: &SamlApp) -> Vec<String> {
    let xml = reqwest::get(s.app.url("/saml/idp/metadata")).await.unwrap().text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "EncryptionMethod")
        .filter_map(|n| n.attribute("Algorithm"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_aes_cbc_assertion_is_refused_unless_the_provider_allows_cbc() {
    let s = spawn_saml("").await;
    let methods = advertised(&s).await;
    assert!(methods.iter().any(|m| m.ends_with("#aes256-gcm")), "{methods:?}");
    assert!(!methods.iter().any(|m| m.contains("-cbc")), "GCM only: {methods:?}");
    let key = sp_public_key(&s);
    let r = post_encrypted(&s, "p-cbc-off", true, |a| encrypt(a, &key, OAEP, false)).await;
    assert_refused(&s, r, &["p-cbc-off"]).await;
    // The same assertion under GCM is fine.
    let r = post_encrypted(&s, "p-gcm-on", true, |a| encrypt(a, &key, OAEP, true)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(s.has_identity("p-gcm-on").await);

    // Opted in: CBC is offered, after every GCM method.
    let s = spawn_saml("allow_cbc_encryption = true").await;
    let methods = advertised(&s).await;
    let last_gcm = methods.iter().rposition(|m| m.contains("-gcm")).unwrap();
    let first_cbc = methods.iter().position(|m| m.contains("-cbc")).expect("CBC offered");
    assert!(last_gcm < first_cbc, "{methods:?}");
}

#[tokio::test]
async fn an_idp_error_status_is_shown_as_such_and_changes_nothing() {
    let s = spawn_saml("").await;
    let error = |request_id: &str, sub: &str| {
        format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_e1\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" InResponseTo=\"{request_id}\"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{sub}\"/></samlp:StatusCode></samlp:Status></samlp:Response>",
            braid::upstream::saml::sp::instant(s.now()),
            s.acs(),
            crate::saml_sp::IDP,
        )
    };
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let r = post_acs(&s, &b, &post_encode(&error(&started.request_id, "AuthnFailed")), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("did not sign you in") && page.contains("Responder (AuthnFailed)"), "{page}");

    // Unverified text of the sender's choosing is never shown: only names SAML defines.
    let b = browser();
    let started = start(&s, &b, "/login/idp").await;
    let lure = error(&started.request_id, "Call 555-0100 to restore your account");
    let r = post_acs(&s, &b, &post_encode(&lure), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("did not sign you in") && page.contains("an error") && !page.contains("555-0100"), "{page}");
}
