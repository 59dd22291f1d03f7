//! Rate limits (`[limits]`) over HTTP: sign-in starts per client address and per provider,
//! callbacks, `/token` failures per client and address, `/account` changes per account, refused
//! admin API calls per address; 429 with `Retry-After` (a page for people, JSON for clients, a
//! problem for the admin API); budgets refill with time; `X-Forwarded-For` counts only from
//! `[server] trusted_proxies`; two braids on one Redis spend from one budget; and a browser may
//! have a few sign-ins under way at once, finished in any order, the oldest past the cap dropped.

use std::sync::Arc;
use std::time::Duration;

use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn app(limits: &str, sessions: &str) -> (TestApp, Arc<TestClock>) {
    behind(limits, sessions, &[]).await
}

/// As [`app`], behind the proxies `trusted` (`[server] trusted_proxies`).
async fn behind(limits: &str, sessions: &str, trusted: &[&str]) -> (TestApp, Arc<TestClock>) {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let clock = Arc::new(TestClock::starting_now());
    let (extra, sessions) = (limits.to_owned(), sessions.to_owned());
    let trusted: Vec<String> = trusted.iter().map(|t| (*t).to_owned()).collect();
    let app = spawn_in_with_clock(dir, clock.clone(), move |d| {
        let mut s = settings(d, &url, &sessions, &extra);
        s.server.trusted_proxies = trusted;
        s
    })
    .await;
    (app, clock)
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn start(app: &TestApp, b: &reqwest::Client, from: Option<&str>) -> reqwest::Response {
    let mut req = b.get(app.url("/login/dev"));
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn sign_in_starts_are_limited_per_address_and_refill_with_time() {
    let (app, clock) = app("[limits]\nsign_in_starts_per_minute = 3\n", "memory").await;
    let b = browser();
    for _ in 0..3 {
        assert_eq!(start(&app, &b, None).await.status(), StatusCode::OK);
    }
    let r = start(&app, &b, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=20).contains(&retry_after(&r)), "{}", retry_after(&r));
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    // Without trusted proxies, X-Forwarded-For is the client's word: ignored.
    assert_eq!(start(&app, &b, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // /authorize keeps a sign-in request: from the same budget.
    let q = authorize_query(APP_ID, APP_CB, None, "n");
    assert_eq!(b.get(app.url("/authorize")).query(&q).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::from_secs(20));
    assert_eq!(start(&app, &b, None).await.status(), StatusCode::OK, "one unit back after 20 s");
    assert_eq!(start(&app, &b, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_budget_and_a_provider_has_one_for_all() {
    let limits = "[limits]\nsign_in_starts_per_minute = 2\nprovider_starts_per_minute = 5\n";
    let (app, _) = behind(limits, "memory", &["127.0.0.0/8"]).await;
    let b = browser();
    for _ in 0..2 {
        assert_eq!(start(&app, &b, Some("198.51.100.1")).await.status(), StatusCode::OK);
    }
    assert_eq!(start(&app, &b, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A proxy appends: the client cannot pick its address by sending its own header first.
    assert_eq!(start(&app, &b, Some("203.0.113.5, 198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..2 {
        assert_eq!(start(&app, &b, Some("198.51.100.2")).await.status(), StatusCode::OK, "another client");
    }
    // Five starts through the provider so far... one more is the provider's sixth.
    assert_eq!(start(&app, &b, Some("198.51.100.3")).await.status(), StatusCode::OK);
    assert_eq!(
        start(&app, &b, Some("198.51.100.4")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the provider's budget"
    );
}

#[tokio::test]
async fn token_failures_are_limited_per_client_and_address_with_a_json_answer() {
    let (app, clock) = behind("[limits]\ntoken_failures_per_minute = 3\n", "memory", &["127.0.0.1"]).await;
    let h = reqwest::Client::new();
    let post = |secret: &str, from: &str| {
        h.post(app.url("/token"))
            .basic_auth(APP_ID, Some(secret))
            .header("x-forwarded-for", from)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
    };
    for _ in 0..3 {
        assert_eq!(post("wrong-secret", "198.51.100.9").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = post(APP_SECRET, "198.51.100.9").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "even the right secret waits");
    assert!(retry_after(&r) >= 1);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    // The client itself is not locked out from elsewhere: its own servers keep working.
    let (s, v) = {
        let r = post(APP_SECRET, "192.0.2.44").send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "authenticated, then the grant fails"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(post(APP_SECRET, "198.51.100.9").send().await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn failed_client_authentication_at_par_revoke_and_introspect_spends_the_same_budget() {
    let (app, _clock) = behind("[limits]\ntoken_failures_per_minute = 3\n", "memory", &["127.0.0.1"]).await;
    let h = reqwest::Client::new();
    let from = "198.51.100.77";
    let at = |path: &str, secret: &str| {
        h.post(app.url(path)).basic_auth(APP_ID, Some(secret)).header("x-forwarded-for", from).form(&[
            ("token", "nope"),
            ("response_type", "code"),
            ("redirect_uri", APP_CB),
            ("scope", "openid"),
        ])
    };
    for path in ["/par", "/revoke", "/introspect"] {
        assert_eq!(at(path, "wrong-secret").send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/par", "/revoke", "/introspect", "/token"] {
        let r = at(path, APP_SECRET).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}: one budget for every endpoint");
        assert!(retry_after(&r) >= 1);
    }
    // Elsewhere the client still authenticates.
    let r = h
        .post(app.url("/introspect"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .header("x-forwarded-for", "192.0.2.45")
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn callbacks_account_changes_and_admin_failures_are_limited() {
    let token = crate::admin_ops::TOKEN;
    let limits = format!(
        "[limits]\ncallbacks_per_minute = 2\naccount_changes_per_minute = 1\nadmin_failures_per_minute = 2\n{}",
        crate::admin_ops::admin_toml()
    );
    let (app, _) = app(&limits, "memory").await;
    // Callbacks (the dev form's post stands for one).
    let b = browser();
    for n in 0..3 {
        let page = b.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
        let state = form_state(&page);
        let r =
            b.post(app.url("/login/dev")).form(&[("state", state.as_str()), ("username", "ann")]).send().await.unwrap();
        let want = if n < 2 { StatusCode::SEE_OTHER } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(r.status(), want, "callback {n}");
    }
    // /account changes, per account.
    let html = b.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    let ann = app.state.accounts.find_identity("urn:braid:dev:dev", "ann").await.unwrap().unwrap();
    let form = [("csrf", csrf.as_str()), ("identity", &ann.id.to_string())];
    let r = b.post(app.url("/account/primary")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.post(app.url("/account/primary")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Refused admin calls, per address: then even a good token waits.
    let h = reqwest::Client::new();
    for _ in 0..2 {
        let r = h.get(app.url("/admin/v1/accounts")).bearer_auth("braid_admin_guess").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = h.get(app.url("/admin/v1/accounts")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(retry_after(&r) >= 1);
}

#[tokio::test]
async fn two_braids_on_one_redis_spend_from_one_budget() {
    let prefix = crate::support::unique("braidtest:");
    let mut apps = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        write_dev_provider(dir.path());
        let url = crate::support::sqlite_url(&dir);
        let (redis, prefix) = (crate::support::redis_url(), prefix.clone());
        apps.push(
            spawn_in(dir, move |d| {
                let mut s = settings(d, &url, &redis, "[limits]\nsign_in_starts_per_minute = 2\n");
                s.store.redis_key_prefix = prefix;
                s
            })
            .await,
        );
    }
    let b = browser();
    assert_eq!(start(&apps[0], &b, None).await.status(), StatusCode::OK);
    assert_eq!(start(&apps[1], &b, None).await.status(), StatusCode::OK);
    assert_eq!(start(&apps[0], &b, None).await.status(), StatusCode::TOO_MANY_REQUESTS, "the budget is shared");
    assert_eq!(start(&apps[1], &b, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_browser_keeps_a_few_sign_ins_under_way_and_finishes_them_in_any_order() {
    let (app, _) = app("[limits]\npending_sign_ins_per_browser = 2\n", "memory").await;
    let b = browser();
    let mut states = Vec::new();
    for _ in 0..3 {
        let page = b.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
        states.push(form_state(&page));
    }
    let finish = |state: String, user: &'static str| {
        let b = b.clone();
        let url = app.url("/login/dev");
        async move { b.post(url).form(&[("state", state.as_str()), ("username", user)]).send().await.unwrap().status() }
    };
    // The second tab finishes before the third, and the third after it: both work.
    assert_eq!(finish(states[1].clone(), "tab2").await, StatusCode::SEE_OTHER);
    assert_eq!(finish(states[2].clone(), "tab3").await, StatusCode::SEE_OTHER);
    // The oldest was dropped when the third began: its record is gone.
    assert_eq!(finish(states[0].clone(), "tab1").await, StatusCode::BAD_REQUEST);
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "tab1").await.unwrap().is_none());
}
