//! What only `braid accounts …` does (the binary against the stores a running braid uses):
//! `show` by account id, email or issuer and subject, and `delete` only with `--yes`. The
//! operations it shares with the admin API are tested once for both in `admin_ops`.

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
async fn delete_needs_yes() {
    let c = setup().await;
    let (_, alice) = c.sign_in("alice").await;
    let o = c.run(&["delete", &alice]).await;
    assert_eq!(o.status.code(), Some(1), "needs --yes: {}", out(&o));
    assert!(c.app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().is_some());
}
