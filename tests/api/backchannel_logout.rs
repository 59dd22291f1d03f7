//! Back-channel logout from an OIDC upstream (SECURITY-CASES 35): a good logout token ends the
//! identity's braid sessions; alg none, a wrong alg, aud or iss, no event, a nonce, or a replay
//! are refused and end nothing.

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::helpers::*;
use crate::mock_idp::{CLIENT_ID, Sign};
use crate::upstream_oidc::{Setup, setup, sign_in_via};

fn logout_claims(s: &Setup) -> Map<String, Value> {
    let now = braid::clock::Clock::now_secs(s.app.clock.as_ref());
    json!({
        "iss": s.mock.base, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": braid::ids::random_token(8),
        "sub": "user-1", "sid": "up-sid",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    })
    .as_object()
    .cloned()
    .unwrap()
}

fn typ_logout() -> Map<String, Value> {
    json!({"typ": "logout+jwt"}).as_object().cloned().unwrap()
}

async fn post_logout(s: &Setup, token: &str) -> StatusCode {
    reqwest::Client::new()
        .post(s.app.url("/backchannel-logout/mock"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn signed_in(s: &Setup, b: &reqwest::Client) -> bool {
    b.get(s.app.url("/account")).send().await.unwrap().status() == StatusCode::OK
}

#[tokio::test]
async fn bad_logout_tokens_are_refused_and_a_good_one_ends_the_sessions() {
    let s = setup("").await;
    let b = browser();
    assert_eq!(sign_in_via(&s, &b).await.status(), StatusCode::SEE_OTHER);
    assert!(signed_in(&s, &b).await);

    let mut bad: Vec<(&str, String)> = Vec::new();
    bad.push(("alg none", s.mock.sign_custom(&Sign::None, false, &typ_logout(), &logout_claims(&s))));
    bad.push((
        "HS256",
        s.mock.sign_custom(
            &Sign::Hs256(b"0123456789abcdef0123456789abcdef".to_vec()),
            false,
            &typ_logout(),
            &logout_claims(&s),
        ),
    ));
    let mut c = logout_claims(&s);
    c.insert("aud".into(), json!("someone-else"));
    bad.push(("wrong aud", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let mut c = logout_claims(&s);
    c.insert("iss".into(), json!("https://evil.example"));
    bad.push(("wrong iss", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let mut c = logout_claims(&s);
    c.remove("events");
    bad.push(("no events", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let mut c = logout_claims(&s);
    c.insert("nonce".into(), json!("n"));
    bad.push(("with nonce", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let mut c = logout_claims(&s);
    c.remove("jti");
    bad.push(("no jti", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let mut c = logout_claims(&s);
    c.insert("iat".into(), json!(c["iat"].as_i64().unwrap() - 3600));
    c.remove("exp");
    bad.push(("issued an hour ago", s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &c)));
    let id_typed = json!({"typ": "JWT"}).as_object().cloned().unwrap();
    bad.push(("typ JWT", s.mock.sign_custom(&Sign::Rs256, false, &id_typed, &logout_claims(&s))));
    for (what, token) in &bad {
        assert_eq!(post_logout(&s, token).await, StatusCode::BAD_REQUEST, "{what}");
        assert!(signed_in(&s, &b).await, "{what} ended nothing");
    }

    let good = s.mock.sign_custom(&Sign::Rs256, false, &typ_logout(), &logout_claims(&s));
    assert_eq!(post_logout(&s, &good).await, StatusCode::OK);
    assert!(!signed_in(&s, &b).await, "the braid session ended");
    assert_eq!(post_logout(&s, &good).await, StatusCode::BAD_REQUEST, "a logout token acts once");
}
