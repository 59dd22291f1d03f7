//! The provider registry while braid runs: a file added, broken, fixed and removed takes effect
//! without a restart; a broken file disables its provider (fail closed) and says so in
//! `/readyz`; a sign-in under way survives a valid change of its provider's file; a disabled or
//! removed provider is refused on every path, its callback included; the dev provider is refused
//! on a public URL, at start and when its file appears later.

use std::sync::Arc;
use std::time::Duration;

use braid::clock::TestClock;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::mock_idp::MockIdp;

async fn eventually(app: &TestApp, what: &str, check: impl Fn(&braid::upstream::Providers) -> bool) {
    for _ in 0..100 {
        if check(&app.state.providers.snapshot()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the registry never showed: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_files_added_broken_fixed_and_removed_take_effect_while_running() {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "reload_interval_ms = 100")).await;
    let file = app.dir().join("providers/mock.toml");
    let b = browser();
    assert_eq!(b.get(app.url("/login/mock")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Added.
    std::fs::write(&file, mock.provider_toml("display_name = \"Mock v1\"\n")).unwrap();
    eventually(&app, "mock added", |p| p.enabled("mock").is_some()).await;
    let chooser = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(chooser.contains("Mock v1") && chooser.contains("Demo sign-in"), "both on the chooser");

    // A sign-in starts and the file changes validly: the sign-in under way ends well.
    let r = b.get(app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    std::fs::write(&file, mock.provider_toml("display_name = \"Mock v1b\"\n")).unwrap();
    eventually(&app, "mock v1b", |p| p.enabled("mock").is_some_and(|m| m.display_name == "Mock v1b")).await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the sign-in under way finished");

    // Broken: the provider is disabled (the edit may have meant to tighten it), a sign-in under
    // way is refused, and /readyz names the file, key and reason.
    let r = b.get(app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let pending = location(&r);
    std::fs::write(&file, "kind = \"oidc\"\nissuer = 12\n").unwrap();
    eventually(&app, "mock disabled by its broken file", |p| p.enabled("mock").is_none()).await;
    let problems = app.state.providers.reload();
    assert!(problems.is_empty(), "an unchanged broken file is not reported again");
    assert_eq!(b.get(app.url("/login/mock")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    mock.set(|bh| bh.subject = "during-breakage".into());
    assert_eq!(b.get(&pending).send().await.unwrap().status(), StatusCode::NOT_FOUND, "callback refused");
    assert!(app.state.accounts.find_identity(&mock.base, "during-breakage").await.unwrap().is_none());
    let ready: serde_json::Value = reqwest::get(app.url("/readyz")).await.unwrap().json().await.unwrap();
    let refused = ready["providers_refused"].as_array().expect("readyz lists refused provider files");
    assert!(
        refused.iter().any(|p| p.as_str().is_some_and(|p| p.contains("mock.toml") && p.contains("line 2"))),
        "{ready}"
    );
    mock.set(|bh| bh.subject = "user-1".into());

    // Fixed (and renamed on the chooser).
    std::fs::write(&file, mock.provider_toml("display_name = \"Mock v2\"\n")).unwrap();
    eventually(&app, "mock v2", |p| p.enabled("mock").is_some_and(|m| m.display_name == "Mock v2")).await;

    // Disabled: refused at the start and at the callback of a sign-in begun before.
    let r = b.get(app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let pending = location(&r);
    std::fs::write(&file, mock.provider_toml("enabled = false\n")).unwrap();
    eventually(&app, "mock disabled", |p| p.enabled("mock").is_none()).await;
    assert_eq!(b.get(app.url("/login/mock")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    mock.set(|bh| bh.subject = "late".into());
    let r = b.get(&pending).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "callback of a disabled provider refused");
    assert!(app.state.accounts.find_identity(&mock.base, "late").await.unwrap().is_none());
    let chooser = b.get(app.url("/login")).send().await.unwrap();
    assert_eq!(location(&chooser), "/login/dev", "only the dev provider is left");

    // Removed.
    std::fs::write(&file, mock.provider_toml("")).unwrap();
    eventually(&app, "mock back", |p| p.enabled("mock").is_some()).await;
    std::fs::remove_file(&file).unwrap();
    eventually(&app, "mock removed", |p| p.all().all(|p| p.id != "mock")).await;
    assert_eq!(b.get(app.url("/callback/mock?state=x&code=y")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_broken_file_at_start_is_reported_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/corp.toml"), "kind = \"oidc\"\nclient_id = \"x\"\n").unwrap();
    let (registry, problems) = braid::upstream::ProviderRegistry::load(&dir.path().join("providers"), ALLOW_DEV);
    assert!(registry.snapshot().all().next().is_none());
    let p = problems.iter().find(|p| p.key == "issuer").expect("issuer problem");
    assert!(p.source.ends_with("corp.toml"));
    assert!(p.reason.contains("required"));
}

const ALLOW_DEV: braid::upstream::RegistryPolicy = braid::upstream::RegistryPolicy { allow_dev: true };

/// Settings of a braid known by an https public URL (called over http on loopback in tests).
fn public_settings(d: &std::path::Path, url: &str) -> braid::config::Settings {
    let mut s = settings(d, url, "memory", "reload_interval_ms = 100\n[demo]\nenabled = false");
    s.server.public_url = Some("https://braid.example.test".into());
    s
}

#[tokio::test]
async fn the_dev_provider_is_refused_at_start_on_a_public_url() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let err = braid::Application::build(public_settings(dir.path(), &url)).await.err().expect("braid refuses to start");
    let msg = format!("{err:#}");
    assert!(msg.contains("dev.toml") && msg.contains("allow_on_public_url"), "{msg}");

    // Explicitly allowed (a shared test deployment): it starts and serves the dev provider.
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| {
        let mut s = public_settings(d, &url);
        s.dev.allow_on_public_url = true;
        s
    })
    .await;
    assert!(app.state.providers.snapshot().enabled("dev").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_provider_file_added_later_on_a_public_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| public_settings(d, &url)).await;
    write_dev_provider(app.dir());
    let problems = app.state.providers.reload();
    assert!(problems.iter().any(|p| p.source.ends_with("dev.toml") && p.key == "kind"), "{problems:?}");
    assert!(app.state.providers.snapshot().all().next().is_none(), "the dev provider is not loaded");
    let b = browser();
    assert_eq!(b.get(app.url("/login/dev")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let ready: serde_json::Value = reqwest::get(app.url("/readyz")).await.unwrap().json().await.unwrap();
    assert!(ready["providers_refused"].to_string().contains("allow_on_public_url"), "{ready}");
    // A disabled dev file is harmless and loads.
    std::fs::write(app.dir().join("providers/dev.toml"), "kind = \"dev\"\nenabled = false\n").unwrap();
    assert!(app.state.providers.reload().is_empty());
    assert!(app.state.providers.snapshot().all().any(|p| p.id == "dev" && !p.enabled));
}

#[tokio::test]
async fn the_demo_application_is_refused_on_a_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&dir);
    let mut s = settings(dir.path(), &url, "memory", "");
    s.server.public_url = Some("https://braid.example.test".into());
    let err = s.check("braid.toml").expect_err("demo on https is a config error");
    assert!(err.0.iter().any(|p| p.key == "demo.enabled" && p.reason.contains("allow_on_public_url")), "{err}");
    let err = braid::Application::build(s.clone()).await.err().expect("braid refuses to start");
    assert!(format!("{err:#}").contains("demo.enabled"), "{err:#}");
    s.demo.enabled = false;
    assert!(s.check("braid.toml").is_ok());
    s.demo.enabled = true;
    s.dev.allow_on_public_url = true;
    assert!(s.check("braid.toml").is_ok(), "allowed explicitly");
}

#[tokio::test]
async fn a_tenant_template_and_an_issuer_it_can_produce_are_one_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let provider = |issuer: &str| {
        format!(
            "kind = \"oidc\"\nissuer = \"{issuer}\"\ndiscovery_url = \"https://login.example/common/v2.0/.well-known/openid-configuration\"\nclient_id = \"c\"\n"
        )
    };
    std::fs::write(dir.path().join("a.toml"), provider("https://login.example/{tenantid}/v2.0")).unwrap();
    std::fs::write(dir.path().join("b.toml"), provider("https://login.example/9188040d-6c67/v2.0")).unwrap();
    let (registry, problems) = braid::upstream::ProviderRegistry::load(dir.path(), ALLOW_DEV);
    assert_eq!(registry.snapshot().all().map(|p| p.id.clone()).collect::<Vec<_>>(), vec!["a".to_owned()]);
    assert!(problems.iter().any(|p| p.source.ends_with("b.toml") && p.key == "issuer"), "{problems:?}");
    assert_eq!(registry.refused().len(), 1, "the clash stays listed while it lasts");
}
