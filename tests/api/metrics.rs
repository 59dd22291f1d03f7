//! `GET /metrics` through HTTP: counters after sign-ins, code exchange, refresh and replay; route
//! templates and no personal data in labels; the separate listener; the bearer token; upstream
//! timings; SAML refusals; and the Grafana dashboard's queries against the real output.
//!
//! The `metrics` recorder is one per process and every test of this binary shares it, so each
//! assertion compares a value before and after, and series that carry a provider get a provider
//! id of their own. Series without a provider (tokens, reuse) are shared: their deltas are at
//! least the expected ones.

use std::collections::BTreeMap;
use std::sync::Arc;

use braid::clock::TestClock;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::mock_idp::MockIdp;

/// One sample line's labels.
type Labels = BTreeMap<String, String>;

/// Parse the text format into (name, labels, value) samples.
fn samples(text: &str) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in `{line}`"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let mut labels = Labels::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                    labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
                }
                (n.to_owned(), labels)
            }
            None => (series.to_owned(), Labels::new()),
        };
        out.push((name, labels, value));
    }
    out
}

/// The value of `name` with exactly `labels`, 0 when absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: Labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    samples(text).into_iter().find(|(n, l, _)| n == name && *l == want).map_or(0.0, |(_, _, v)| v)
}

async fn scrape(base: &str) -> String {
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.unwrap()
}

/// braid with a dev provider of its own id (for per-test sign-in counts); returns it and the id.
async fn spawn_with_own_dev(extra: &str) -> (TestApp, String) {
    let id = crate::support::unique("mdev");
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    std::fs::write(dir.path().join(format!("providers/{id}.toml")), "kind = \"dev\"\n").unwrap();
    let url = crate::support::sqlite_url(&dir);
    let extra = extra.to_owned();
    (spawn_in(dir, move |d| settings(d, &url, "memory", &extra)).await, id)
}

/// Sign in at `/login/{provider}` (a dev provider) as `username`, straight to `/account`.
async fn dev_sign_in(app: &TestApp, b: &reqwest::Client, provider: &str, username: &str) {
    let r = b.get(app.url(&format!("/login/{provider}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state = form_state(&r.text().await.unwrap());
    let email = format!("{username}@example.com");
    let r = b
        .post(app.url(&format!("/login/{provider}")))
        .form(&[("state", state.as_str()), ("username", username), ("email", &email), ("email_verified", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
}

#[tokio::test]
async fn an_identity_linked_automatically_by_its_address_counts_as_linked_not_existing() {
    let first = crate::support::unique("mfirst");
    let auto = crate::support::unique("mauto");
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    std::fs::write(dir.path().join(format!("providers/{first}.toml")), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    std::fs::write(
        dir.path().join(format!("providers/{auto}.toml")),
        "kind = \"dev\"\ntrust_email = true\non_new_identity = \"link_by_email\"\nauto_link = true\n",
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", "")).await;
    dev_sign_in(&app, &browser(), &first, "metrics-carol").await;
    // The same verified address at the other provider: linked to carol's account on sign-in.
    dev_sign_in(&app, &browser(), &auto, "metrics-carol").await;
    let after = scrape(&app.base).await;
    let of = |p: &str, o: &str| value(&after, "braid_sign_ins_total", &[("provider", p), ("outcome", o)]);
    assert_eq!(of(&first, "created"), 1.0, "{after}");
    assert_eq!((of(&auto, "linked"), of(&auto, "existing"), of(&auto, "created")), (1.0, 0.0, 0.0), "{after}");
    let find = |p: String| {
        let app = &app;
        async move { app.state.accounts.find_identity(&format!("urn:braid:dev:{p}"), "metrics-carol").await.unwrap() }
    };
    let (a, b) = (find(first.clone()).await.unwrap(), find(auto.clone()).await.unwrap());
    assert_eq!(a.account_id, b.account_id, "one account: the identity was linked");
}

#[tokio::test]
async fn sign_ins_tokens_refresh_and_replay_are_counted_with_their_labels() {
    let (app, own) = spawn_with_own_dev("").await;
    let before = scrape(&app.base).await;
    let tokens = |t: &str, g: &str| value(t, "braid_tokens_issued_total", &[("grant", g)]);
    let reuse = |t: &str| value(t, "braid_refresh_reuse_detected_total", &[]);

    // Two sign-ins with the provider of this test: one new account, then the same one again.
    dev_sign_in(&app, &browser(), &own, "metrics-alice").await;
    dev_sign_in(&app, &browser(), &own, "metrics-alice").await;
    // A code, its exchange, a refresh, and the first refresh token presented again (at a braid
    // with the dev provider alone, so the chooser is skipped; the recorder is the same).
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "metrics-bob", "n-1").await;
    let r = redeem(&app, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", first.as_str())];
    let (status, body) = token_request(&app, (APP_ID, Some(APP_SECRET)), &refresh).await;
    assert_eq!(status, StatusCode::OK);
    // The successor is used, so the first token presented again is a replay (not a lost answer).
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    let next = [("grant_type", "refresh_token"), ("refresh_token", second.as_str())];
    let (status, _) = token_request(&app, (APP_ID, Some(APP_SECRET)), &next).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = token_request(&app, (APP_ID, Some(APP_SECRET)), &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the replay is refused");

    let after = scrape(&app.base).await;
    let sign_ins = |o: &str| value(&after, "braid_sign_ins_total", &[("provider", &own), ("outcome", o)]);
    assert_eq!(sign_ins("created"), 1.0, "{after}");
    assert_eq!(sign_ins("existing"), 1.0);
    assert_eq!(sign_ins("linked"), 0.0);
    assert!(value(&after, "braid_sign_ins_total", &[("provider", "dev"), ("outcome", "created")]) >= 1.0);
    assert!(tokens(&after, "authorization_code") - tokens(&before, "authorization_code") >= 1.0);
    assert!(tokens(&after, "refresh_token") - tokens(&before, "refresh_token") >= 1.0);
    assert!(reuse(&after) - reuse(&before) >= 1.0);
    assert_eq!(value(&after, "braid_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    // Series that must be there from the start, at zero if nothing happened yet.
    for store in ["sql", "sessions"] {
        assert!(samples(&after).iter().any(|(n, l, _)| n == "braid_store_errors_total" && l["store"] == store));
    }
    assert!(after.contains("braid_webhook_queue_depth "), "{after}");
    assert!(after.contains("braid_account_changes_total{kind=\"identity.linked\"}"), "{after}");
}

#[tokio::test]
async fn http_timings_use_route_templates_and_no_label_carries_personal_data() {
    let (app, own) = spawn_with_own_dev("").await;
    let b = browser();
    dev_sign_in(&app, &b, &own, "metrics-carol").await;
    let page = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let r = reqwest::get(app.url("/login/dev")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reqwest::get(app.url("/no/such/path/metrics-carol")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let account = app.state.accounts.find_identity(&braid::upstream::dev::issuer(&own), "metrics-carol").await;
    let account = account.unwrap().expect("identity").account_id;

    let text = scrape(&app.base).await;
    let count = |route: &str, status: &str| {
        value(&text, "braid_http_request_seconds_count", &[("route", route), ("status", status)])
    };
    assert!(count("/login/{provider}", "200") >= 2.0, "{text}");
    assert!(count("/login/{provider}", "303") >= 1.0);
    assert!(count("/account", "200") >= 1.0);
    assert!(count("unmatched", "404") >= 1.0);
    assert!(
        value(
            &text,
            "braid_http_request_seconds_bucket",
            &[("route", "/login/{provider}"), ("status", "200"), ("le", "+Inf")]
        ) >= 2.0
    );
    for raw in ["route=\"/login/dev\"", &format!("route=\"/login/{own}\""), "/no/such/path"] {
        assert!(!text.contains(raw), "raw path {raw} in the output");
    }
    for personal in [account.as_str(), "metrics-carol", "example.com", "127.0.0.1"] {
        assert!(!text.contains(personal), "`{personal}` in the metrics output");
    }
}

/// Build braid with `extra` settings and serve it; returns its base URL, the metrics listener's
/// address and the stop handle.
async fn spawn_raw(
    extra: &str,
) -> (String, Option<std::net::SocketAddr>, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let s = settings(dir.path(), &url, "memory", extra);
    let app = braid::Application::build_with_clock(s, Arc::new(TestClock::starting_now())).await.unwrap();
    let (base, metrics) = (format!("http://{}", app.local_addr()), app.metrics_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, metrics, tx, dir)
}

#[tokio::test]
async fn with_a_metrics_listen_address_metrics_are_served_there_and_not_on_the_main_listener() {
    let (base, metrics, _stop, _dir) = spawn_raw("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let metrics = metrics.expect("a metrics listener");
    assert_ne!(metrics.to_string(), base.trim_start_matches("http://"));
    let text = scrape(&format!("http://{metrics}")).await;
    assert!(text.contains("braid_build_info"), "{text}");
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().status(), StatusCode::OK);
    // The metrics listener serves nothing else.
    assert_eq!(reqwest::get(format!("http://{metrics}/healthz")).await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_metrics_off_there_is_no_endpoint() {
    let (base, metrics, _stop, _dir) = spawn_raw("[metrics]\nenabled = false\nlisten = \"127.0.0.1:0\"\n").await;
    assert!(metrics.is_none());
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_configured_token_is_required_and_a_missing_or_wrong_one_gets_401() {
    // printf %s 'scrape-token-1' | sha256sum
    let hash = braid_hex_sha256("scrape-token-1");
    let app = spawn_app_with(&format!("[metrics]\ntoken_sha256 = \"{hash}\"\n")).await;
    let get = |token: Option<&str>| {
        let mut r = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let none = get(None).await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key(reqwest::header::WWW_AUTHENTICATE));
    assert!(!none.text().await.unwrap().contains("braid_"));
    let wrong = get(Some("scrape-token-2")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.text().await.unwrap().contains("braid_"));
    let basic = reqwest::Client::new().get(app.url("/metrics")).basic_auth("x", Some("scrape-token-1"));
    assert_eq!(basic.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let right = get(Some("scrape-token-1")).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("braid_build_info"));
}

fn braid_hex_sha256(s: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// braid with a mock OIDC provider under an id of its own; signs in once through it.
async fn sign_in_through_mock() -> (TestApp, MockIdp, String) {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let id = crate::support::unique("moidc");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join(format!("providers/{id}.toml")), mock.provider_toml("")).unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "")).await;
    let b = browser();
    let r = b.get(app.url(&format!("/login/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.get(location(&r)).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/account");
    (app, mock, id)
}

#[tokio::test]
async fn each_upstream_step_of_an_oidc_sign_in_is_timed() {
    let (app, _mock, id) = sign_in_through_mock().await;
    let text = scrape(&app.base).await;
    let count = |step: &str| value(&text, "braid_upstream_request_seconds_count", &[("provider", &id), ("step", step)]);
    assert_eq!(count("token"), 1.0, "{text}");
    assert_eq!(count("discovery"), 1.0, "cached after the first fetch");
    assert_eq!(count("jwks"), 1.0);
    let buckets = |step: &str| {
        value(&text, "braid_upstream_request_seconds_bucket", &[("provider", &id), ("step", step), ("le", "+Inf")])
    };
    assert_eq!(buckets("token"), 1.0);
    assert!(value(&text, "braid_upstream_request_seconds_sum", &[("provider", &id), ("step", "token")]) > 0.0);
    assert_eq!(value(&text, "braid_sign_ins_total", &[("provider", &id), ("outcome", "created")]), 1.0);
}

async fn saml_refusal() -> crate::saml_sp::SamlApp {
    use crate::saml_support::{post_encode, signed_response};
    let s = crate::saml_sp::spawn_saml("").await;
    let b = browser();
    // An unsolicited response to a provider that does not allow IdP-initiated sign-in.
    let xml = signed_response(&s.spec(None, "p-metrics"), &s.keys);
    let r = crate::saml_sp::post_acs(&s, &b, &post_encode(&xml), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s
}

#[tokio::test]
async fn a_refused_saml_response_is_counted_with_its_reason() {
    let reason = |t: &str| value(t, "braid_saml_refusals_total", &[("provider", "idp"), ("reason", "unsolicited")]);
    let s = crate::saml_sp::spawn_saml("").await;
    let before = scrape(&s.app.base).await;
    drop(s);
    let s = saml_refusal().await;
    let after = scrape(&s.app.base).await;
    assert!(reason(&after) - reason(&before) >= 1.0, "{after}");
    assert!(!after.contains("p-metrics"));
}

/// Every metric name the dashboard's queries use.
fn dashboard_metric_names() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let mut names = Vec::new();
    for panel in doc["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(at) = rest.find("braid_") {
                let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_grafana_dashboard_queries_is_in_the_output() {
    let names = dashboard_metric_names();
    for needed in ["braid_sign_ins_total", "braid_upstream_request_seconds_bucket", "braid_webhook_queue_depth"] {
        assert!(names.iter().any(|n| n == needed), "the dashboard queries {needed}");
    }
    // Exercise every kind of series first: a sign-in, an upstream sign-in, a SAML refusal.
    let (app, own) = spawn_with_own_dev("").await;
    dev_sign_in(&app, &browser(), &own, "metrics-dave").await;
    let (_oidc, _mock, _) = sign_in_through_mock().await;
    let _saml = saml_refusal().await;
    let text = scrape(&app.base).await;
    let present: std::collections::HashSet<String> = samples(&text).into_iter().map(|(n, _, _)| n).collect();
    for name in &names {
        assert!(present.contains(name), "the dashboard queries `{name}`, which braid does not export:\n{text}");
    }
}
