//! Sign-in through an OpenID Connect upstream, against our own misbehaving provider: the happy
//! path, then every bad answer of SECURITY-CASES B and C, each asserting that no identity,
//! account or session was made.

use std::sync::Arc;
use std::time::Duration;

use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mock_idp::{MockIdp, Sign};

pub struct Setup {
    pub app: TestApp,
    pub mock: MockIdp,
}

/// braid with one provider file `mock.toml` pointing at a fresh mock IdP.
pub async fn setup(extra: &str) -> Setup {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/mock.toml"), mock.provider_toml(extra)).unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "")).await;
    Setup { app, mock }
}

/// Start at braid, go through the mock's authorize, and return braid's callback response.
pub async fn sign_in_via(s: &Setup, b: &reqwest::Client) -> reqwest::Response {
    let r = b.get(s.app.url("/login/mock")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "start redirects upstream");
    let to_idp = location(&r);
    assert!(to_idp.starts_with(&format!("{}/authorize?", s.mock.base)), "{to_idp}");
    let r = b.get(&to_idp).send().await.unwrap();
    let callback = location(&r);
    b.get(&callback).send().await.unwrap()
}

/// The response was a refusal and nothing was created.
pub async fn assert_refused(s: &Setup, r: reqwest::Response, subject: &str) {
    let status = r.status();
    assert!(status.is_client_error() || status.is_server_error(), "refused, got {status}");
    assert!(r.headers().get("location").is_none(), "no redirect on refusal");
    assert!(
        s.app.state.accounts.find_identity(&s.mock.base, subject).await.unwrap().is_none(),
        "no identity was created for {subject}"
    );
}

async fn refused_with(s: &Setup, subject: &str) {
    let r = sign_in_via(s, &browser()).await;
    assert_refused(s, r, subject).await;
}

#[tokio::test]
async fn a_person_signs_in_through_an_oidc_provider_and_gets_an_account() {
    let s = setup("").await;
    let b = browser();
    let r = sign_in_via(&s, &b).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/account");
    let id = s.app.state.accounts.find_identity(&s.mock.base, "user-1").await.unwrap().expect("identity");
    assert_eq!(id.email.as_deref(), Some("user-1@mock.example"));
    assert!(id.email_verified);
    assert_eq!(id.provider_id, "mock");
    let page = b.get(s.app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(id.account_id.as_str()));
    // Again: the same account.
    let r = sign_in_via(&s, &browser()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let again = s.app.state.accounts.find_identity(&s.mock.base, "user-1").await.unwrap().unwrap();
    assert_eq!(again.account_id, id.account_id);
}

/// A provider start naming an application's transaction that is gone (expired, or finished in
/// another tab) shows the expired page and starts nothing: no trip upstream, no attempt bound
/// to the browser. Checked for an OIDC provider and for the dev provider.
#[tokio::test]
async fn a_start_for_a_transaction_that_is_gone_starts_nothing() {
    let s = setup("").await;
    let dev = spawn_app().await;
    for (app, provider) in [(&s.app, "mock"), (&dev, "dev")] {
        let r = browser().get(app.url(&format!("/login/{provider}?tx=gone"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{provider}");
        assert!(r.headers().get("location").is_none(), "{provider}: never sent on");
        let bound = r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap_or("").contains("braid_login"));
        assert!(!bound, "{provider}: no sign-in attempt bound to the browser");
        assert!(r.text().await.unwrap().contains("This sign-in has expired"), "{provider}");
    }
}

#[tokio::test]
async fn an_application_sign_in_through_the_upstream_gets_braid_tokens() {
    let s = setup("").await;
    let b = browser();
    let r = b.get(s.app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n-up")).send().await.unwrap();
    let chooser = location(&r);
    let r = b.get(s.app.url(&chooser)).send().await.unwrap();
    let start = location(&r);
    assert!(start.starts_with("/login/mock?tx="), "{start}");
    let r = b.get(s.app.url(&start)).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let back = location(&r);
    let code = query_param(&back, "code").expect("code for the application");
    let t: Value = redeem(&s.app, &code).await.json().await.unwrap();
    let claims = verify_id_token(&s.app.base, t["id_token"].as_str().unwrap(), APP_ID).await;
    assert_eq!(claims["idp"], s.mock.base.as_str());
    assert_eq!(claims["nonce"], "n-up");
    let id = s.app.state.accounts.find_identity(&s.mock.base, "user-1").await.unwrap().unwrap();
    assert_eq!(claims["sub"], id.account_id.as_str());
}

#[tokio::test]
async fn id_token_with_a_wrong_issuer_is_refused() {
    let s = setup("").await;
    s.mock.claim("iss", json!("https://evil.example"));
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn id_token_with_a_wrong_missing_or_extra_audience_is_refused() {
    let s = setup("").await;
    for aud in [json!("someone-else"), Value::Null, json!([crate::mock_idp::CLIENT_ID, "untrusted"]), json!([])] {
        s.mock.claim("aud", aud);
        refused_with(&s, "user-1").await;
    }
    s.mock.claim("aud", json!(crate::mock_idp::CLIENT_ID));
    s.mock.claim("azp", json!("someone-else"));
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn id_token_without_sub_or_iat_is_refused() {
    let s = setup("").await;
    s.mock.claim("iat", Value::Null);
    refused_with(&s, "user-1").await;
    s.mock.set(|b| b.claims.clear());
    s.mock.claim("sub", Value::Null);
    let r = sign_in_via(&s, &browser()).await;
    assert!(r.status().is_client_error());
}

#[tokio::test]
async fn id_tokens_with_bad_rs256_es256_or_hs256_signatures_are_refused() {
    let s = setup("").await;
    s.mock.set(|b| b.sign = Sign::TamperedPayload);
    refused_with(&s, "user-1").await;
    refused_with(&s, "someone-else").await;
    // ES256 with the EC key published, then the signature of another payload.
    s.mock.set(|b| {
        b.sign = Sign::Es256;
        b.publish_ec = true;
    });
    s.app.clock.advance(Duration::from_secs(31)); // past the refetch rate limit
    let ok = sign_in_via(&s, &browser()).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER, "a good ES256 token verifies");
    s.mock.set(|b| {
        b.subject = "user-2".into();
        b.header.insert("kid".into(), json!("not-the-ec-key"));
    });
    refused_with(&s, "user-2").await;
    s.mock.set(|b| {
        b.header.clear();
        b.sign = Sign::Hs256(b"some-shared-secret-some-shared-secret".to_vec());
    });
    refused_with(&s, "user-2").await;
}

#[tokio::test]
async fn hs256_keyed_with_the_providers_public_key_is_refused() {
    let s = setup("").await;
    s.mock.set(|b| b.subject = "victim".into());
    for key in s.mock.rsa_public_variants() {
        s.mock.set(|b| b.sign = Sign::Hs256(key.clone()));
        refused_with(&s, "victim").await;
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = setup("").await;
    s.mock.set(|b| b.sign = Sign::None);
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn a_nonce_mismatch_is_refused() {
    let s = setup("").await;
    s.mock.claim("nonce", json!("another-nonce"));
    refused_with(&s, "user-1").await;
    s.mock.claim("nonce", Value::Null);
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn a_token_without_kid_is_refused_when_several_keys_are_published() {
    let s = setup("").await;
    s.mock.set(|b| {
        b.publish_ec = true;
        b.header.insert("kid".into(), Value::Null);
    });
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_when_one_key_is_published() {
    let s = setup("").await;
    s.mock.header("kid", Value::Null);
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_rotated_upstream_key_is_fetched_once_and_used() {
    let s = setup("").await;
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let hits = s.mock.jwks_hits();
    s.mock.set(|b| {
        b.rotated = true;
        b.subject = "user-2".into();
    });
    // Within 30 s of the last fetch, an unknown kid does not make braid fetch again.
    refused_with(&s, "user-2").await;
    assert_eq!(s.mock.jwks_hits(), hits, "rate-limited");
    s.app.clock.advance(Duration::from_secs(31));
    let r = sign_in_via(&s, &browser()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "new key fetched on an unknown kid");
    assert_eq!(s.mock.jwks_hits(), hits + 1);
}

#[tokio::test]
async fn an_expired_or_future_id_token_is_refused() {
    let s = setup("clock_skew_secs = 30\n").await;
    let now = braid::clock::Clock::now_secs(s.app.clock.as_ref());
    s.mock.claim("exp", json!(now - 31));
    refused_with(&s, "user-1").await;
    s.mock.claim("exp", json!(now + 300));
    s.mock.claim("iat", json!(now + 31));
    refused_with(&s, "user-1").await;
    s.mock.claim("iat", json!(now + 29));
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER, "within the skew");
}

#[tokio::test]
async fn a_userinfo_sub_that_differs_is_refused() {
    let s = setup("userinfo = true\n").await;
    s.mock.set(|b| b.userinfo = Some(json!({"sub": "someone-else", "email": "x@mock.example"})));
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn email_verified_applies_only_to_the_email_it_came_with() {
    let s = setup("userinfo = true\n").await;
    // The ID token verifies its email; userinfo brings another one without a flag.
    s.mock.set(|b| b.userinfo = Some(json!({"sub": "user-1", "email": "other@mock.example"})));
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let id = s.app.state.accounts.find_identity(&s.mock.base, "user-1").await.unwrap().unwrap();
    assert_eq!(id.email.as_deref(), Some("other@mock.example"));
    assert!(!id.email_verified, "the ID token's flag is not applied to the userinfo email");
    // Only true or "true" count.
    for (flag, expected) in [(json!("true"), true), (json!("yes"), false), (json!(1), false), (json!("TRUE"), false)] {
        s.mock.set(|b| {
            b.subject = "user-2".into();
            b.userinfo = Some(json!({"sub": "user-2"}));
            b.claims.insert("email_verified".into(), flag.clone());
        });
        assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
        let id = s.app.state.accounts.find_identity(&s.mock.base, "user-2").await.unwrap().unwrap();
        assert_eq!(id.email_verified, expected, "email_verified = {flag}");
    }
}

#[tokio::test]
async fn an_authorization_response_from_another_issuer_is_refused() {
    let s = setup("").await;
    s.mock.set(|b| b.iss_param = Some("https://attacker.example".into()));
    refused_with(&s, "user-1").await;
    assert_eq!(s.mock.token_hits(), 0, "refused before the code was redeemed");
    // Advertised but missing.
    s.mock.set(|b| b.iss_param = None);
    refused_with(&s, "user-1").await;
    // Not advertised and missing: accepted.
    s.mock.set(|b| b.advertise_iss = false);
    let s2 = setup("").await;
    s2.mock.set(|b| {
        b.advertise_iss = false;
        b.iss_param = None;
    });
    assert_eq!(sign_in_via(&s2, &browser()).await.status(), StatusCode::SEE_OTHER);
}

/// Go to the mock and stop before braid's callback; returns the callback URL.
async fn callback_url(s: &Setup, b: &reqwest::Client) -> String {
    let r = b.get(s.app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    location(&r)
}

fn without_param(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> =
        u.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into(), v.into())).collect();
    u.query_pairs_mut().clear().extend_pairs(kept);
    u.to_string()
}

#[tokio::test]
async fn callbacks_with_missing_wrong_foreign_or_replayed_state_are_refused() {
    let s = setup("").await;
    let b = browser();
    let cb = callback_url(&s, &b).await;
    // Missing.
    assert_refused(&s, b.get(without_param(&cb, "state")).send().await.unwrap(), "user-1").await;
    // Wrong.
    let wrong = cb.replace("state=", "state=x");
    assert_refused(&s, b.get(&wrong).send().await.unwrap(), "user-1").await;
    // From another browser (no cookie binding).
    let other = browser();
    assert_refused(&s, other.get(&cb).send().await.unwrap(), "user-1").await;
    // The right browser still succeeds once, and the replay fails.
    let ok = b.get(&cb).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let replay = b.get(&cb).send().await.unwrap();
    assert!(replay.status().is_client_error(), "state is single use");
}

#[tokio::test]
async fn an_injected_code_fails_because_pkce_binds_it_to_its_own_session() {
    let s = setup("").await;
    // The attacker gets a code for their own sign-in, and never redeems it.
    s.mock.set(|b| b.subject = "attacker".into());
    let attacker = browser();
    let attacker_cb = callback_url(&s, &attacker).await;
    let stolen_code = query_param(&attacker_cb, "code").unwrap();
    // The victim's browser gets the attacker's code pasted into its own callback.
    s.mock.set(|b| b.subject = "victim".into());
    let victim = browser();
    let victim_cb = callback_url(&s, &victim).await;
    let victim_code = query_param(&victim_cb, "code").unwrap();
    let injected = victim_cb.replace(&victim_code, &stolen_code);
    let r = victim.get(&injected).send().await.unwrap();
    assert_refused(&s, r, "attacker").await;
    assert!(s.app.state.accounts.find_identity(&s.mock.base, "victim").await.unwrap().is_none());
}

#[tokio::test]
async fn embedded_jwk_jku_and_x5u_headers_are_ignored() {
    let s = setup("").await;
    s.mock.set(|b| b.sign = Sign::EmbeddedJwk);
    refused_with(&s, "user-1").await;
    s.mock.set(|b| {
        b.sign = Sign::Rs256;
        b.header.insert("jku".into(), json!("http://127.0.0.1:1/jwks"));
        b.header.insert("x5u".into(), json!("http://127.0.0.1:1/cert"));
    });
    assert_eq!(
        sign_in_via(&s, &browser()).await.status(),
        StatusCode::SEE_OTHER,
        "verified with the provider's own keys"
    );
}

#[tokio::test]
async fn an_access_token_presented_as_id_token_is_refused() {
    let s = setup("").await;
    s.mock.header("typ", json!("at+jwt"));
    refused_with(&s, "user-1").await;
}

#[tokio::test]
async fn a_failing_jwks_endpoint_keeps_the_last_good_keys_and_never_skips_verification() {
    let s = setup("").await;
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    s.mock.set(|b| {
        b.jwks_fail = true;
        b.subject = "user-2".into();
    });
    s.app.clock.advance(Duration::from_secs(3601));
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER, "last good keys still serve");
    s.mock.set(|b| b.sign = Sign::TamperedPayload);
    refused_with(&s, "someone-else").await;
    // A provider whose keys were never fetched: refused.
    let fresh = setup("").await;
    fresh.mock.set(|b| b.jwks_fail = true);
    refused_with(&fresh, "user-1").await;
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_is_refused() {
    let s = setup("").await;
    s.mock.set(|b| b.discovery_issuer = Some("https://other.example".into()));
    let r = browser().get(s.app.url("/login/mock")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn userinfo_never_decides_the_subject_or_a_verified_email() {
    // The subject claim is not `sub` (Entra ID's `oid` style): userinfo must not supply it.
    let s = setup("userinfo = true\n[claims]\nsubject = \"oid\"\n").await;
    s.mock.set(|b| {
        b.userinfo =
            Some(json!({"sub": "user-1", "oid": "from-userinfo", "email": "x@mock.example", "email_verified": true}));
    });
    let r = sign_in_via(&s, &browser()).await;
    assert!(r.status().is_client_error(), "no subject in the ID token: refused, not taken from userinfo");
    assert!(s.app.state.accounts.find_identity(&s.mock.base, "from-userinfo").await.unwrap().is_none());
    // The ID token names the subject; userinfo's own "verified" flag for another email is ignored.
    s.mock.claim("oid", json!("from-id-token"));
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let id = s
        .app
        .state
        .accounts
        .find_identity(&s.mock.base, "from-id-token")
        .await
        .unwrap()
        .expect("keyed on the ID token");
    assert_eq!(id.email.as_deref(), Some("x@mock.example"));
    assert!(!id.email_verified, "only the ID token verifies an email");
}
