//! Bad authorization requests: an unknown client or a redirect URI that is not registered byte
//! for byte gets an error page and never a redirect; other errors go back to the client.

use reqwest::StatusCode;

use crate::helpers::*;

async fn authorize(app: &TestApp, q: &[(String, String)]) -> reqwest::Response {
    browser().get(app.url("/authorize")).query(q).send().await.unwrap()
}

fn set(q: &mut Vec<(String, String)>, k: &str, v: Option<&str>) {
    q.retain(|(a, _)| a != k);
    if let Some(v) = v {
        q.push((k.to_owned(), v.to_owned()));
    }
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let app = spawn_app().await;
    let r = authorize(&app, &authorize_query("nobody", APP_CB, None, "n")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("Unknown application"));
}

#[tokio::test]
async fn unregistered_or_altered_redirect_uris_get_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let variants = [
        "http://127.0.0.1:9/cb?x=1",   // query added
        "http://127.0.0.1:9/cb#frag",  // fragment
        "http://127.0.0.1:9/cb/",      // trailing slash
        "http://127.0.0.1:9/CB",       // path case
        "http://127.0.0.1:10/cb",      // port
        "https://127.0.0.1:9/cb",      // scheme
        "http://127.0.0.1:9/cb/../cb", // dot segments
        "http://user@127.0.0.1:9/cb",  // userinfo
        "http://127.0.0.1:9/%63b",     // percent-encoding
        "http://localhost:9/cb",       // host spelling
        "http://127.0.0.1:9/evil",     // another path
        "https://evil.example/cb",     // another host
    ];
    for v in variants {
        let r = authorize(&app, &authorize_query(APP_ID, v, None, "n")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{v}");
        assert!(r.headers().get("location").is_none(), "never redirects to {v}");
    }
    // A client with two URIs and none given: error page too.
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    set(&mut q, "redirect_uri", None);
    let r = authorize(&app, &q).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

async fn error_redirect(app: &TestApp, q: &[(String, String)]) -> String {
    let r = authorize(app, q).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(back.starts_with(APP_CB) || back.starts_with(SPA_CB), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()), "iss on error redirects too");
    query_param(&back, "error").expect("error parameter")
}

#[tokio::test]
async fn missing_or_unsupported_response_type_is_returned_to_the_client() {
    let app = spawn_app().await;
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    set(&mut q, "response_type", None);
    assert_eq!(error_redirect(&app, &q).await, "invalid_request");
    set(&mut q, "response_type", Some("token"));
    assert_eq!(error_redirect(&app, &q).await, "unsupported_response_type");
}

#[tokio::test]
async fn public_clients_must_send_an_s256_challenge() {
    let app = spawn_app().await;
    let q = authorize_query(SPA_ID, SPA_CB, None, "n");
    assert_eq!(error_redirect(&app, &q).await, "invalid_request");
    let mut q = authorize_query(SPA_ID, SPA_CB, Some("E9Melhoa2OwFCqJxykFuvQAY1MlZWzhU7zf7gEA4n1c"), "n");
    set(&mut q, "code_challenge_method", Some("plain"));
    assert_eq!(error_redirect(&app, &q).await, "invalid_request", "plain is refused");
    set(&mut q, "code_challenge_method", None);
    assert_eq!(error_redirect(&app, &q).await, "invalid_request", "method defaults to plain: refused");
}

#[tokio::test]
async fn a_request_without_the_openid_scope_is_refused() {
    let app = spawn_app().await;
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    set(&mut q, "scope", Some("profile"));
    assert_eq!(error_redirect(&app, &q).await, "invalid_scope");
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = spawn_app().await;
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.push(("frobnicate".into(), "yes".into()));
    let r = authorize(&app, &q).await;
    assert!(location(&r).starts_with("/login?tx="));
}

#[tokio::test]
async fn a_sign_in_form_from_another_browser_is_refused() {
    let app = spawn_app().await;
    let victim = browser();
    let r = victim.get(app.url("/login/dev")).send().await.unwrap();
    let state = form_state(&r.text().await.unwrap());
    // The attacker posts the victim's state without the victim's cookie.
    let r = browser()
        .post(app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", "mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        app.state.accounts.find_identity("urn:braid:dev:dev", "mallory").await.unwrap().is_none(),
        "nothing created"
    );
    // The state is single use: the victim's own second post fails.
    let ok = victim
        .post(app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", "vic")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let again = victim
        .post(app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", "vic2")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "vic2").await.unwrap().is_none());
}
