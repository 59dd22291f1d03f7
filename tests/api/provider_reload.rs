//! The provider registry while braid runs: a file added, broken, fixed and removed takes effect
//! without a restart; a broken file keeps the last good version active; a sign-in under way
//! survives a change of its provider's file; a disabled or removed provider is refused on every
//! path, its callback included.

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

    // A sign-in starts, then the file is broken: the last good version stays, the sign-in ends well.
    let r = b.get(app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    std::fs::write(&file, "kind = \"oidc\"\nissuer = 12\n").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let p = app.state.providers.snapshot();
    assert_eq!(p.enabled("mock").map(|p| p.display_name.clone()).as_deref(), Some("Mock v1"), "last good version kept");
    let problems = app.state.providers.reload();
    assert!(problems.is_empty(), "an unchanged broken file is not reported again");
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the sign-in under way finished");

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
    let (registry, problems) = braid::upstream::ProviderRegistry::load(&dir.path().join("providers"));
    assert!(registry.snapshot().all().next().is_none());
    let p = problems.iter().find(|p| p.key == "issuer").expect("issuer problem");
    assert!(p.source.ends_with("corp.toml"));
    assert!(p.reason.contains("required"));
}
