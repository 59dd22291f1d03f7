//! braid in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/browser/`): what a newcomer sees in the first minute (the demo, linking) and one
//! sign-in shared by two applications on two subdomains (`[session] cookie_domain`) really work
//! in a browser.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

fn run_node(script: &'static str, args: &[String]) -> std::process::Output {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(dir).join("node_modules/playwright-core").exists(),
        "run scripts/test (it installs chromium and the browser-test packages)"
    );
    Command::new("node").current_dir(dir).arg(script).args(args).output().expect("node runs")
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
    let out = tokio::task::spawn_blocking(move || run_node("linking.mjs", &[base])).await.unwrap();
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
    let out = tokio::task::spawn_blocking(move || run_node("demo.mjs", &[base])).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sign_in_reaches_apps_on_two_subdomains_with_the_cookie_domain_in_a_real_browser() {
    use crate::caddy_forward_auth::start_caddy;
    use crate::nginx_auth::{echo_app, free_port};

    let (braid_port, port_a, port_b) = (free_port(), free_port(), free_port());
    let braid_url = format!("http://auth.example.test:{braid_port}");
    let first = format!("http://app.example.test:{port_a}");
    let second = format!("http://other.example.test:{port_b}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    let url = crate::support::sqlite_url(&dir);
    let routes = format!(
        "[[routes]]\nhost = \"app.example.test:{port_a}\"\n[[routes]]\nhost = \"other.example.test:{port_b}\"\n"
    );
    let public_url = braid_url.clone();
    let app = spawn_in(dir, move |d| {
        let mut s = settings(d, &url, "memory", "");
        s.routes = toml::from_str::<braid::config::Settings>(&routes).unwrap().routes;
        // braid at auth.example.test (on loopback, over http: a `.test` test setup), the
        // session cookie shared with example.test.
        s.server.listen = format!("127.0.0.1:{braid_port}");
        s.server.public_url = Some(public_url);
        s.session.cookie_domain = Some("example.test".into());
        s.dev.allow_on_public_url = true;
        s.check("test").expect("cookie_domain settings are valid");
        s
    })
    .await;
    let braid = format!("127.0.0.1:{braid_port}");
    let _caddy_a = start_caddy(&first, port_a, echo_app().await, &braid).await;
    let _caddy_b = start_caddy(&second, port_b, echo_app().await, &braid).await;

    let args = [first.clone(), second.clone(), braid_url];
    let out = tokio::task::spawn_blocking(move || run_node("cookie_domain.mjs", &args)).await.unwrap();
    assert!(out.status.success(), "browser run failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");

    let account =
        app.state.accounts.find_identity("urn:braid:dev:dev", "carla").await.unwrap().expect("carla signed in");
    let account = account.account_id.as_str();
    assert_eq!(seen["signInHost"], format!("auth.example.test:{braid_port}"), "signed in at braid's host");
    assert_eq!(seen["signInPath"], "/login/dev");
    assert_eq!(seen["first"]["host"][0], format!("app.example.test:{port_a}"));
    assert_eq!(seen["first"]["x-auth-request-user"], serde_json::json!([account]));
    // The second app, on another subdomain: no sign-in, braid not even visited by the browser.
    assert_eq!(seen["secondUrl"], format!("{second}/other-page"));
    assert_eq!(seen["braidDuringSecond"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["second"]["host"][0], format!("other.example.test:{port_b}"));
    assert_eq!(seen["second"]["x-auth-request-user"], serde_json::json!([account]));
    let token = seen["second"]["x-braid-assertion"][0].as_str().expect("an assertion");
    let claims =
        crate::forward_auth::verify_assertion(&app.base, token, &format!("https://other.example.test:{port_b}")).await;
    assert_eq!(claims["sub"], account);
    // One session cookie, for the whole domain (http: no prefix, no Secure); the apps never see it.
    assert_eq!(
        seen["cookies"],
        serde_json::json!([{ "name": "braid_session", "domain": ".example.test", "httpOnly": true, "secure": false }])
    );
    for app_seen in [&seen["first"], &seen["second"]] {
        assert!(!app_seen["cookie"].to_string().contains("braid_"), "{app_seen}");
    }
}
