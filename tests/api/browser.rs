//! The demo application in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/browser/`): what a newcomer sees in the first minute really works in a browser.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_application_signs_in_refreshes_and_signs_out_in_a_real_browser() {
    let app = spawn_app().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(dir).join("node_modules/playwright-core").exists(),
        "run scripts/test (it installs chromium and the browser-test packages)"
    );
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").current_dir(dir).args(["demo.mjs", &base]).output().expect("node runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "browser run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    let identity = app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().expect("alice signed in");
    assert_eq!(seen["sub"], identity.account_id.as_str(), "the page shows the account id as sub");
    assert_eq!(seen["refreshedSub"], seen["sub"], "refresh keeps the sub");
    assert_eq!(seen["nonceChecked"], true);
    assert_eq!(seen["userinfoShown"], true);
    assert_eq!(seen["afterSignOut"], "/login/dev", "signed out of braid too");
}
