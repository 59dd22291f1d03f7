//! Every answer says `X-Content-Type-Options: nosniff` (pages, JSON, redirects, errors, 404s);
//! `Strict-Transport-Security` comes with an https public URL only.

use reqwest::StatusCode;

use crate::helpers::*;

/// Representative answers of braid: (method, path, expected status).
const PATHS: &[(&str, &str, StatusCode)] = &[
    ("GET", "/.well-known/openid-configuration", StatusCode::OK),
    ("GET", "/jwks.json", StatusCode::OK),
    ("GET", "/", StatusCode::SEE_OTHER),
    ("GET", "/account", StatusCode::SEE_OTHER),
    ("GET", "/authorize?client_id=nobody", StatusCode::BAD_REQUEST),
    ("POST", "/token", StatusCode::UNAUTHORIZED),
    ("GET", "/token", StatusCode::METHOD_NOT_ALLOWED),
    ("GET", "/userinfo", StatusCode::UNAUTHORIZED),
    ("GET", "/login/nope", StatusCode::NOT_FOUND),
    ("GET", "/no/such/path", StatusCode::NOT_FOUND),
    ("GET", "/healthz", StatusCode::OK),
];

async fn each_answer(app: &TestApp, check: impl Fn(&str, &reqwest::header::HeaderMap)) {
    let b = browser();
    for (method, path, status) in PATHS {
        let req = match *method {
            "POST" => b.post(app.url(path)).form(&[("grant_type", "refresh_token")]),
            _ => b.get(app.url(path)),
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), *status, "{method} {path}");
        check(&format!("{method} {path}"), r.headers());
    }
}

#[tokio::test]
async fn every_answer_over_http_says_nosniff_and_no_hsts() {
    let app = spawn_app().await;
    each_answer(&app, |what, h| {
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
        assert!(h.get("strict-transport-security").is_none(), "{what}: no HSTS on an http public URL");
    })
    .await;
}

#[tokio::test]
async fn every_answer_of_an_https_braid_carries_hsts() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    // Called over http on loopback, known to the world by an https URL (behind a TLS proxy).
    let app = spawn_in(dir, move |d| {
        let mut s = settings(d, &url, "memory", "[demo]\nenabled = false");
        s.server.public_url = Some("https://braid.example.test".into());
        // The dev provider walks the pages; off loopback it must be allowed explicitly.
        s.dev.allow_on_public_url = true;
        s
    })
    .await;
    each_answer(&app, |what, h| {
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
        assert_eq!(
            h.get("strict-transport-security").map(|v| v.to_str().unwrap()),
            Some("max-age=31536000; includeSubDomains"),
            "{what}"
        );
    })
    .await;
}
