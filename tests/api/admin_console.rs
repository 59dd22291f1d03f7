//! The admin console at `/admin` over HTTP: only accounts listed in `[admin] accounts` (403 for
//! others, sign-in for no session), a fresh sign-in for changes, CSRF and origin checked, every
//! change confirmed on a page that names it before anything happens, audited as
//! `admin:console:<account>`; and in headless Chromium: add a provider from the form, see it on
//! `/login`, search an account, unlink an identity through the confirmation step.

use std::sync::Arc;

use braid::accounts::{AccountId, AccountStore, Actor, ExternalIdentity};
use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn dev(subject: &str, email: &str) -> ExternalIdentity {
    ExternalIdentity {
        issuer: "urn:braid:dev:dev".into(),
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: false,
        name: None,
        claims: Default::default(),
    }
}

pub struct Console {
    pub app: TestApp,
    pub root: AccountId,
    pub bob: AccountId,
    pub clock: Arc<TestClock>,
}

/// braid whose admin is `root`'s account; `bob` has two identities (`bob`, `bob-alt`).
pub async fn console() -> Console {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let store = braid::accounts::SqlAccountStore::new(braid::db::Db::connect(&url).await.unwrap());
    let root = store.resolve_or_create("dev", &dev("root", "root@example.com"), 0).await.unwrap().account.id;
    let bob = store.resolve_or_create("dev", &dev("bob", "bob@example.com"), 0).await.unwrap().account.id;
    store.link(&bob, "dev", &dev("bob-alt", "bob.alt@example.com"), &Actor::admin("setup"), 0).await.unwrap();
    let extra = format!("[admin]\naccounts = [\"{root}\"]\n");
    let clock = Arc::new(TestClock::starting_now());
    let app = spawn_in_with_clock(dir, clock.clone(), move |d| settings(d, &url, "memory", &extra)).await;
    Console { app, root, bob, clock }
}

pub async fn dev_sign_in(app: &TestApp, user: &str) -> reqwest::Client {
    let b = browser();
    let page = b.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let state = form_state(&page);
    let r = b.post(app.url("/login/dev")).form(&[("state", state.as_str()), ("username", user)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    b
}

pub async fn csrf_of(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let html = b.get(app.url(path)).send().await.unwrap().text().await.unwrap();
    html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a form with csrf").to_owned()
}

#[tokio::test]
async fn only_listed_accounts_get_in_and_changes_are_fresh_confirmed_and_audited() {
    let c = console().await;
    let (app, bob) = (&c.app, c.bob.as_str());
    // No session: sign in first. Another account: 403.
    let r = browser().get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bob_browser = dev_sign_in(app, "bob").await;
    for path in ["/admin", "/admin/accounts", &format!("/admin/accounts/{bob}"), "/admin/providers", "/admin/audit"] {
        assert_eq!(bob_browser.get(app.url(path)).send().await.unwrap().status(), StatusCode::FORBIDDEN, "{path}");
    }
    let bob_csrf = csrf_of(app, &bob_browser, "/account").await;
    let r = bob_browser
        .post(app.url(&format!("/admin/accounts/{bob}/change")))
        .form(&[("csrf", bob_csrf.as_str()), ("action", "disable"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a non-admin cannot change anything");

    let root = dev_sign_in(app, "root").await;
    let page = root.get(app.url("/admin/accounts?q=bob.alt@example.com")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(bob), "search by email finds bob");
    let csrf = csrf_of(app, &root, &format!("/admin/accounts/{bob}")).await;
    let alt = app.state.accounts.find_identity("urn:braid:dev:dev", "bob-alt").await.unwrap().unwrap();
    let unlink = [("csrf", csrf.as_str()), ("action", "unlink"), ("identity", &alt.id.to_string())];
    let change = app.url(&format!("/admin/accounts/{bob}/change"));

    // Another origin: refused.
    let r = root.post(&change).header("origin", "https://evil.example").form(&unlink).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // First the confirmation, naming what will happen; nothing changed yet.
    let r = root.post(&change).form(&unlink).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Unlink (urn:braid:dev:dev, bob-alt) from account"), "{html}");
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "bob-alt").await.unwrap().is_some());
    // A stale sign-in is asked to sign in again.
    c.clock.advance(std::time::Duration::from_secs(app.state.settings.account.fresh_auth_secs + 1));
    let mut confirmed = unlink.to_vec();
    confirmed.push(("confirm", "yes"));
    let r = root.post(&change).form(&confirmed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Sign in again"));
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "bob-alt").await.unwrap().is_some());
    // Fresh again: confirmed, done, audited with the console admin.
    let root = dev_sign_in(app, "root").await;
    let csrf = csrf_of(app, &root, &format!("/admin/accounts/{bob}")).await;
    let confirmed =
        [("csrf", csrf.as_str()), ("action", "unlink"), ("identity", &alt.id.to_string()), ("confirm", "yes")];
    let r = root.post(&change).form(&confirmed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "bob-alt").await.unwrap().is_none());
    let audit = app.state.accounts.audit(&c.bob).await.unwrap();
    let unlinked = audit.iter().find(|e| e.action == "identity.unlinked").expect("audited");
    assert_eq!(unlinked.actor, format!("admin:console:{}", c.root));

    // Link: confirmed, then done.
    let link = [("csrf", csrf.as_str()), ("action", "link"), ("issuer", "https://idp.example"), ("subject", "b-77")];
    let html = root.post(&change).form(&link).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Link (https://idp.example, b-77) to account"), "{html}");
    assert!(app.state.accounts.find_identity("https://idp.example", "b-77").await.unwrap().is_none());
    let mut link = link.to_vec();
    link.push(("confirm", "yes"));
    assert_eq!(root.post(&change).form(&link).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let linked = app.state.accounts.find_identity("https://idp.example", "b-77").await.unwrap().expect("linked");
    assert_eq!(linked.account_id, c.bob);

    // An admin whose account is disabled is out at once.
    app.state.accounts.set_disabled(&c.root, true, &Actor::admin("test"), 0).await.unwrap().unwrap();
    assert_ne!(root.get(app.url("/admin")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_provider_searches_and_unlinks_in_a_real_browser() {
    let c = console().await;
    let mock = crate::mock_idp::MockIdp::start(c.clock.clone()).await;
    let (base, issuer) = (c.app.base.clone(), mock.base.clone());
    let out = tokio::task::spawn_blocking(move || {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
        assert!(
            std::path::Path::new(dir).join("node_modules/playwright-core").exists(),
            "run scripts/test (it installs chromium and the browser-test packages)"
        );
        std::process::Command::new("node").current_dir(dir).args(["console.mjs", &base, &issuer]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "browser run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    assert!(seen["added"].as_str().unwrap().contains("added"), "{seen}");
    assert_eq!(seen["onLogin"], true, "the new provider is on the sign-in page: {seen}");
    assert!(seen["found"].as_str().unwrap().contains(c.bob.as_str()), "{seen}");
    assert!(seen["confirm"].as_str().unwrap().contains("Unlink (urn:braid:dev:dev, bob-alt)"), "{seen}");
    assert!(seen["notice"].as_str().unwrap().contains("unlinked"), "{seen}");
    let p = c.app.state.catalog.get_provider("corp").await.unwrap();
    assert_eq!((p.source, p.issuer.as_str()), ("api", mock.base.as_str()));
    assert!(c.app.state.accounts.find_identity("urn:braid:dev:dev", "bob-alt").await.unwrap().is_none());
}
