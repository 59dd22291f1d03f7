//! The demo application in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/browser/`): what a newcomer sees in the first minute really works in a browser.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

fn run_node(script: &'static str, base: String) -> std::process::Output {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(dir).join("node_modules/playwright-core").exists(),
        "run scripts/test (it installs chromium and the browser-test packages)"
    );
    Command::new("node").current_dir(dir).args([script, &base]).output().expect("node runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_links_signs_in_with_either_identity_unlinks_and_sees_the_refusal_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\ndisplay_name = \"Dev one\"\n").unwrap();
    std::fs::write(dir.path().join("providers/dev2.toml"), "kind = \"dev\"\ndisplay_name = \"Dev two\"\n").unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", "")).await;
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || run_node("linking.mjs", base)).await.unwrap();
    assert!(out.status.success(), "browser run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    assert_eq!(seen["accountViaB"], seen["accountA"], "signing in with B lands on the same account");
    assert_ne!(seen["accountBob"], seen["accountA"]);
    assert_eq!(seen["rowsAfterLink"], 2);
    assert!(seen["linkedNotice"].as_str().unwrap().contains("linked"));
    assert_eq!(seen["rowsAfterUnlink"], 1);
    assert!(seen["unlinkNotice"].as_str().unwrap().contains("unlinked"));
    assert_eq!(seen["refusal"], "This identity is already linked to another account");
    let b = app.state.accounts.find_identity("urn:braid:dev:dev2", "alice-b").await.unwrap().unwrap();
    assert_eq!(b.account_id.as_str(), seen["accountA"].as_str().unwrap(), "B stayed on the first account");
    assert!(app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().is_none(), "A unlinked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_application_signs_in_refreshes_and_signs_out_in_a_real_browser() {
    let app = spawn_app().await;
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || run_node("demo.mjs", base)).await.unwrap();
    assert!(out.status.success(), "browser run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    let identity =
        app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().expect("alice signed in");
    assert_eq!(seen["sub"], identity.account_id.as_str(), "the page shows the account id as sub");
    assert_eq!(seen["refreshedSub"], seen["sub"], "refresh keeps the sub");
    assert_eq!(seen["nonceChecked"], true);
    assert_eq!(seen["userinfoShown"], true);
    assert_eq!(seen["afterSignOut"], "/login/dev", "signed out of braid too");
}
