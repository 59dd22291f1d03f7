//! SAML provider hardening: IdP-initiated sign-in together with linking by email is a
//! configuration error (`braid check`, the reload), and signed AuthnRequests are bounded per
//! provider (429 with `Retry-After`, nothing stored, until braid's clock refills the bucket).

use std::time::Duration;

use reqwest::StatusCode;

use crate::saml_sp::{sets_session, spawn_saml, spawn_saml_in, start};

const BASE: &str =
    "kind = \"saml\"\nissuer = \"https://idp.example.test/saml\"\nidp_metadata_url = \"https://idp.example.test/md\"\n";

#[tokio::test]
async fn idp_initiated_sign_in_with_link_by_email_is_a_config_error_for_check_and_the_reload() {
    let path = std::path::Path::new("providers/corp.toml");
    let bad = format!("{BASE}allow_idp_initiated = true\non_new_identity = \"link_by_email\"\ntrust_email = true\n");
    let e = braid::upstream::parse_file(path, &bad).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].source.as_str(), e[0].key.as_str()), ("providers/corp.toml", "allow_idp_initiated"));
    assert!(e[0].reason.contains("link_by_email") && e[0].reason.contains("unsolicited"), "{}", e[0].reason);
    // Either one alone is fine.
    assert!(braid::upstream::parse_file(path, &format!("{BASE}allow_idp_initiated = true\n")).is_ok());
    assert!(braid::upstream::parse_file(path, &format!("{BASE}on_new_identity = \"link_by_email\"\n")).is_ok());

    // `braid check` names file and key, and fails.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/corp.toml"), &bad).unwrap();
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("corp.toml") && stderr.contains("allow_idp_initiated"), "{stderr}");

    // The reload reports it and disables the provider (fail closed) until the file is fixed.
    let s = spawn_saml("on_new_identity = \"link_by_email\"").await;
    let file = s.app.dir().join("providers/idp.toml");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{good}allow_idp_initiated = true\n")).unwrap();
    let problems = s.app.state.providers.reload();
    assert!(problems.iter().any(|p| p.key == "allow_idp_initiated" && p.source.ends_with("idp.toml")), "{problems:?}");
    assert!(s.app.state.providers.snapshot().enabled("idp").is_none(), "the provider is out of force");
    assert!(s.app.state.providers.refused().iter().any(|p| p.key == "allow_idp_initiated"), "and listed as refused");
}

/// How many login attempts the Redis session store holds under `prefix`.
async fn attempts_in_store(prefix: &str) -> usize {
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}login:*")).query_async(&mut conn).await.unwrap();
    keys.len()
}

#[tokio::test]
async fn signed_authn_requests_past_the_budget_get_429_and_store_nothing_until_the_clock_refills() {
    let extra = "sign_requests = true\nsigned_requests_burst = 3\nsigned_requests_per_sec = 1";
    let s = spawn_saml_in(extra, "", &crate::support::redis_url()).await;
    let prefix = s.app.state.settings.store.redis_key_prefix.clone();
    for _ in 0..3 {
        let started = start(&s, &crate::helpers::browser(), "/login/idp").await;
        assert!(started.query.contains("&Signature="), "signed: {}", started.query);
    }
    assert_eq!(attempts_in_store(&prefix).await, 3);

    let b = crate::helpers::browser();
    let r = b.get(s.app.url("/login/idp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()[reqwest::header::RETRY_AFTER], "1");
    assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none(), "no cookie");
    assert!(!sets_session(&r));
    let page = r.text().await.unwrap();
    assert!(page.contains("<h1>Too many sign-ins right now</h1>"), "{page}");
    assert_eq!(attempts_in_store(&prefix).await, 3, "no login attempt was stored");
    // A forced sign-in signs too: the budget is the provider's, whatever the request.
    let r = b.get(s.app.url("/login/idp?prompt=login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // Time refills it: one token per second.
    s.app.clock.advance(Duration::from_secs(1));
    let started = start(&s, &b, "/login/idp").await;
    assert!(started.query.contains("&Signature="));
    assert_eq!(attempts_in_store(&prefix).await, 4);
    assert_eq!(b.get(s.app.url("/login/idp")).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn unsigned_authn_requests_are_not_bounded_and_the_budget_keys_are_checked() {
    // The IdP does not want signed requests: no private-key operation, no bound.
    let s = spawn_saml("signed_requests_burst = 1\nsigned_requests_per_sec = 1").await;
    for _ in 0..3 {
        let started = start(&s, &crate::helpers::browser(), "/login/idp").await;
        assert!(!started.query.contains("Signature="));
    }
    let path = std::path::Path::new("providers/corp.toml");
    for (line, key) in [
        ("signed_requests_per_sec = 0", "signed_requests_per_sec"),
        ("signed_requests_per_sec = 1001", "signed_requests_per_sec"),
        ("signed_requests_burst = 0", "signed_requests_burst"),
        ("signed_requests_burst = 10001", "signed_requests_burst"),
    ] {
        let e = braid::upstream::parse_file(path, &format!("{BASE}{line}\n")).unwrap_err();
        assert_eq!(e[0].key, key, "{line}");
        assert!(e[0].reason.contains("must be between 1 and"), "{}", e[0].reason);
    }
    let oidc = "kind = \"oidc\"\nissuer = \"https://op.example\"\nclient_id = \"c\"\nsigned_requests_burst = 5\n";
    assert_eq!(braid::upstream::parse_file(path, oidc).unwrap_err()[0].key, "signed_requests_burst");
    assert!(braid::upstream::parse_file(path, &format!("{BASE}signed_requests_burst = 500\n")).is_ok());
}
