//! Key rotation: a new key is published in the JWKS at once, signs only after the activation
//! delay, and tokens signed with the old key keep verifying.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

async fn id_token_kid(app: &TestApp, user: &str) -> (String, String) {
    let code = code_for(app, &browser(), user, "n").await;
    let t: Value = redeem(app, &code).await.json().await.unwrap();
    let token = t["id_token"].as_str().unwrap().to_owned();
    (jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(), token)
}

#[tokio::test]
async fn a_rotated_key_is_published_first_and_signs_after_the_delay() {
    let app = spawn_app().await;
    let (old_kid, old_token) = id_token_kid(&app, "ron").await;
    let published = || async {
        let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
        jwks["keys"].as_array().unwrap().len()
    };
    let before = published().await;
    braid::issuer::keys::KeySet::rotate(&app.dir().join("keys"), braid::config::SigningAlg::RS256).unwrap();
    app.state.keys.reload().unwrap();
    assert_eq!(published().await, before + 1, "the new key is published at once");
    assert_eq!(id_token_kid(&app, "ron").await.0, old_kid, "but does not sign yet");
    // The delay counts from the key file's creation on the wall clock; the margin absorbs a slow machine.
    app.clock.advance(Duration::from_secs(700));
    app.state.keys.reload().unwrap();
    let (new_kid, new_token) = id_token_kid(&app, "ron").await;
    assert_ne!(new_kid, old_kid, "after the delay the new key signs");
    verify_id_token(&app.base, &old_token, APP_ID).await;
    verify_id_token(&app.base, &new_token, APP_ID).await;
}
