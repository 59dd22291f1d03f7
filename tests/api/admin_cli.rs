//! `braid accounts …` against the same stores a running braid uses (SQLite and a real Redis):
//! show, link, unlink, move, merge, disable, enable, delete, each with its rule and its effect
//! on sessions.

use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

struct Cli {
    app: TestApp,
    config: std::path::PathBuf,
}

async fn setup() -> Cli {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let db = crate::support::sqlite_url(&dir);
    let redis = crate::support::redis_url();
    let app = spawn_in(dir, move |d| settings(d, &db, &redis, "")).await;
    let s = &app.state.settings;
    let config = app.dir().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\naccounts = \"{}\"\nsessions = \"{}\"\nredis_key_prefix = \"{}\"\n[providers]\ndir = \"{}\"\n[keys]\ndir = \"{}\"\n",
            s.store.accounts,
            s.store.sessions,
            s.store.redis_key_prefix,
            app.dir().join("providers").display(),
            app.dir().join("keys").display()
        ),
    )
    .unwrap();
    Cli { app, config }
}

impl Cli {
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config".to_owned(), self.config.display().to_string(), "accounts".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_braid")).args(&all).env("USER", "ops").output().unwrap()
        })
        .await
        .unwrap()
    }

    async fn sign_in(&self, user: &str) -> (reqwest::Client, String) {
        let b = browser();
        let page = b.get(self.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
        let state = form_state(&page);
        let email = format!("{user}@example.com");
        let r = b
            .post(self.app.url("/login/dev"))
            .form(&[("state", state.as_str()), ("username", user), ("email", email.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let id = self.app.state.accounts.find_identity("urn:braid:dev:dev", user).await.unwrap().unwrap();
        (b, id.account_id.0)
    }

    async fn signed_in(&self, b: &reqwest::Client) -> bool {
        b.get(self.app.url("/account")).send().await.unwrap().status() == StatusCode::OK
    }
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_finds_accounts_by_id_email_or_identity() {
    let c = setup().await;
    let (_, alice) = c.sign_in("alice").await;
    for query in [vec![alice.as_str()], vec!["ALICE@example.com"], vec!["urn:braid:dev:dev", "alice"]] {
        let mut args = vec!["show"];
        args.extend(query.iter().copied());
        let o = c.run(&args).await;
        assert!(o.status.success(), "{}", out(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v[0]["account"]["id"], alice.as_str());
        assert_eq!(v[0]["identities"][0]["subject"], "alice");
    }
    let o = c.run(&["show", "nobody@example.com"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_identities_marks_the_old_account_and_ends_its_sessions() {
    let c = setup().await;
    let (alice_browser, alice) = c.sign_in("alice").await;
    let (bob_browser, bob) = c.sign_in("bob").await;
    let o = c.run(&["merge", &bob, &alice]).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(!c.signed_in(&bob_browser).await, "the merged account's sessions ended (in Redis)");
    assert!(!c.signed_in(&alice_browser).await, "so did the target's");
    let (_, now_bob) = c.sign_in("bob").await;
    assert_eq!(now_bob, alice, "bob's identity signs in to alice's account");
    let o = c.run(&["show", &bob]).await;
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["account"]["status"]["MergedInto"], alice.as_str());
    let merged =
        v[0]["audit"].as_array().unwrap().iter().find(|e| e["action"] == "account.merged").expect("merge audited");
    assert_eq!(merged["actor"], "admin:ops");
    let o = c.run(&["merge", &bob, &alice]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_move_and_unlink_follow_the_rules() {
    let c = setup().await;
    let (_, alice) = c.sign_in("alice").await;
    let (_, bob) = c.sign_in("bob").await;
    let o = c.run(&["link", &alice, "urn:braid:dev:dev", "alice-alt"]).await;
    assert!(o.status.success(), "{}", out(&o));
    let (_, alt) = c.sign_in("alice-alt").await;
    assert_eq!(alt, alice, "a pre-provisioned identity signs in to its account");
    let o = c.run(&["link", &alice, "urn:braid:dev:dev", "bob"]).await;
    assert_eq!(o.status.code(), Some(1), "on another account: {}", out(&o));
    // Moving a primary is refused; moving the other identity works.
    let o = c.run(&["move", "urn:braid:dev:dev", "alice", &bob]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("primary"));
    let o = c.run(&["move", "urn:braid:dev:dev", "alice-alt", &bob]).await;
    assert!(o.status.success(), "{}", out(&o));
    let (_, alt) = c.sign_in("alice-alt").await;
    assert_eq!(alt, bob);
    let o = c.run(&["unlink", "urn:braid:dev:dev", "alice-alt"]).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(c.app.state.accounts.find_identity("urn:braid:dev:dev", "alice-alt").await.unwrap().is_none());
    let o = c.run(&["unlink", "urn:braid:dev:dev", "alice"]).await;
    assert_eq!(o.status.code(), Some(1), "the primary stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_and_delete() {
    let c = setup().await;
    let (b, alice) = c.sign_in("alice").await;
    let o = c.run(&["disable", &alice]).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(!c.signed_in(&b).await, "sessions ended");
    let other = browser();
    let page = other.get(c.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let state = form_state(&page);
    let r = other
        .post(c.app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a disabled account cannot sign in");
    assert!(c.run(&["enable", &alice]).await.status.success());
    c.sign_in("alice").await;
    let o = c.run(&["delete", &alice]).await;
    assert_eq!(o.status.code(), Some(1), "needs --yes");
    let o = c.run(&["delete", &alice, "--yes"]).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(c.app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().is_none());
    let (_, fresh) = c.sign_in("alice").await;
    assert_ne!(fresh, alice, "a new account, never the old id");
}
