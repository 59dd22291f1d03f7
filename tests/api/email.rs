//! Email to the person on every change of their links, against a real SMTP server: aiosmtpd
//! (pinned in `tests/interop/smtp/requirements.txt`, run by `tests/interop/smtp/sink.py` on a
//! free loopback port), which writes each message it receives to a directory, decoded by
//! Python's `email` package. A link and an unlink made on `/account` mail every verified
//! address concerned, once; an unverified address gets nothing; an SMTP server that is down
//! delays the message without failing the change, and it is delivered once when the server
//! comes up; a pending message survives a restart of braid; two replicas on one database
//! (SQLite and PostgreSQL) send each message once.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid::accounts::{Actor, SignInProviders};
use braid::clock::{Clock, SharedClock, TestClock};
use braid::config::NotifySettings;
use braid::db::Db;
use braid::notify::email::{EmailSettings, Mailer};
use braid::notify::email_outbox::{EmailNotifier, enqueue};
use braid::notify::message::{ChangeFacts, IdentityFacts};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

use crate::helpers::*;
use crate::linking::{I2, account_of, csrf, dev_sign_in, link, post_change, post_dev_form};

const FROM: &str = "braid <braid@example.com>";

/// aiosmtpd on 127.0.0.1:`port`, writing what it receives into a directory of its own.
struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    async fn start(port: u16) -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/smtp");
        let python = std::path::Path::new(root).join(".venv/bin/python");
        assert!(python.exists(), "run scripts/test (it installs the interop packages: ensure_venv tests/interop/smtp)");
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .current_dir(root)
            .arg("sink.py")
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python runs");
        let sink = Self { child, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return sink;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not start");
    }

    /// Every message received so far, decoded, in the order received.
    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|eml| serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap()).unwrap())
            .collect()
    }

    /// Wait until `n` messages have arrived (at most 20 s); then make sure no more arrive for a
    /// few rounds of the outbox worker.
    async fn exactly(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.messages().len() < n {
            assert!(Instant::now() < deadline, "only {} of {n} messages arrived", self.messages().len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let all = self.messages();
        assert_eq!(all.len(), n, "exactly {n} messages: {all:#?}");
        all
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// braid with the dev providers `dev` and `dev2`, accounts in `accounts`, sending email to
/// 127.0.0.1:`smtp_port` (plain SMTP, loopback).
async fn email_app(accounts: &str, smtp_port: u16) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    std::fs::write(dir.path().join("providers/dev2.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    let extra = format!(
        "[notify]\npoll_interval_ms = 50\ntimeout_ms = 2000\n\
         [notify.email]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"{}\"\n",
        FROM.replace('"', "\\\"")
    );
    let accounts = accounts.to_owned();
    spawn_in(dir, move |d| settings(d, &accounts, "memory", &extra)).await
}

/// The recipient of each message, sorted.
fn recipients(messages: &[Value]) -> Vec<String> {
    let mut to: Vec<String> = messages
        .iter()
        .map(|m| {
            assert_eq!(m["envelope_to"].as_array().map(Vec::len), Some(1), "one recipient per message: {m}");
            assert_eq!(m["to"], m["envelope_to"][0], "{m}");
            m["to"].as_str().unwrap().to_owned()
        })
        .collect();
    to.sort();
    to
}

fn utc(at: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at).unwrap().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The outbox rows as (recipient, attempts, delivered, last_error), by recipient.
async fn outbox(db: &Db) -> Vec<(String, i64, bool, Option<String>)> {
    sqlx::query("SELECT recipient, attempts, delivered_at, last_error FROM email_outbox ORDER BY recipient, id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("recipient"),
                r.get("attempts"),
                r.get::<Option<i64>, _>("delivered_at").is_some(),
                r.get("last_error"),
            )
        })
        .collect()
}

/// Sign `alice` in at `dev` (verified address) and link `alice-two` at `dev2` (verified address).
async fn alice_links_alice_two(app: &TestApp, b: &reqwest::Client) -> braid::accounts::AccountId {
    let r = dev_sign_in(app, b, "dev", "alice", "alice@example.com", true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let started = Instant::now();
    let r = link(app, b, "dev2", "alice-two").await;
    assert_eq!(location(&r), "/account?done=linked");
    assert!(started.elapsed() < Duration::from_secs(3), "the link never waits for SMTP");
    account_of(app, I2, "alice-two").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_and_an_unlink_mail_every_verified_address_concerned_once() {
    let port = free_port();
    let sink = Sink::start(port).await;
    let db_dir = tempfile::tempdir().unwrap();
    let app = email_app(&crate::support::sqlite_url(&db_dir), port).await;
    let b = browser();
    let account = alice_links_alice_two(&app, &b).await;

    let linked = sink.exactly(2).await;
    assert_eq!(recipients(&linked), ["alice-two@example.com", "alice@example.com"]);
    let audit = app.state.accounts.audit(&account).await.unwrap();
    let event = audit.iter().find(|e| e.action == "identity.linked").unwrap();
    let ip = event.ip.clone().expect("the client address is audited");
    assert_eq!(ip, "127.0.0.1");
    for m in &linked {
        assert_eq!(m["from"], FROM);
        assert_eq!(m["envelope_from"], "braid@example.com");
        assert_eq!(m["subject"], "An identity was linked to your account");
        assert_eq!(m["content_type"], "multipart/alternative");
        assert_eq!(m["parts"], serde_json::json!(["text/plain", "text/html"]));
        let id = m["message_id"].as_str().unwrap();
        assert!(id.starts_with('<') && id.ends_with("@127.0.0.1>"), "{id}");
        for part in ["text", "html"] {
            let body = m[part].as_str().unwrap();
            for needle in [
                I2,
                "alice-two",
                "alice-two@example.com",
                &utc(event.at),
                &ip,
                account.as_str(),
                &app.url("/account"),
                "If it was not you",
                m["to"].as_str().unwrap(),
            ] {
                assert!(body.contains(needle), "the {part} part names {needle}: {body}");
            }
        }
        assert!(m["html"].as_str().unwrap().contains(&format!("href=\"{}\"", app.url("/account"))));
    }
    assert_ne!(linked[0]["message_id"], linked[1]["message_id"]);

    // Unlinking notifies the account and the identity that left it.
    let other = app.state.accounts.find_identity(I2, "alice-two").await.unwrap().unwrap();
    let r = post_change(&app, &b, "/account/unlink", other.id, &[]).await;
    assert_eq!(location(&r), "/account?done=unlinked");
    let all = sink.exactly(4).await;
    let unlinked = &all[2..];
    assert_eq!(recipients(unlinked), ["alice-two@example.com", "alice@example.com"]);
    for m in unlinked {
        assert_eq!(m["subject"], "An identity was unlinked from your account");
        assert!(m["text"].as_str().unwrap().contains("can no longer be used to sign in"), "{m}");
        assert!(m["text"].as_str().unwrap().contains("alice-two"), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_address_gets_nothing() {
    let port = free_port();
    let sink = Sink::start(port).await;
    let db_dir = tempfile::tempdir().unwrap();
    let app = email_app(&crate::support::sqlite_url(&db_dir), port).await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "alice", "alice@example.com", true).await;
    // Link an identity whose address its provider does not say is verified.
    let token = csrf(&app, &b).await;
    let r = b.post(app.url("/account/link/dev2")).form(&[("csrf", token.as_str())]).send().await.unwrap();
    let html = r.text().await.unwrap();
    let r = post_dev_form(&app, &b, "dev2", &html, "mallory", "mallory@example.com", false).await;
    assert_eq!(location(&r), "/account?done=linked");
    let linked = sink.exactly(1).await;
    assert_eq!(recipients(&linked), ["alice@example.com"]);
    assert!(linked[0]["text"].as_str().unwrap().contains("mallory@example.com"), "the message names the identity");

    // The sign-in switch notifies too, still not the unverified address.
    let other = app.state.accounts.find_identity(I2, "mallory").await.unwrap().unwrap();
    let r = post_change(&app, &b, "/account/sign-in", other.id, &[("allowed", "false")]).await;
    assert_eq!(location(&r), "/account?done=sign_in");
    let all = sink.exactly(2).await;
    assert_eq!(recipients(&all[1..]), ["alice@example.com"]);
    assert_eq!(all[1]["subject"], "Sign-in with an identity of your account was turned off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_and_a_merge_mail_both_accounts() {
    let port = free_port();
    let sink = Sink::start(port).await;
    let db_dir = tempfile::tempdir().unwrap();
    let app = email_app(&crate::support::sqlite_url(&db_dir), port).await;
    let alice = alice_links_alice_two(&app, &browser()).await;
    sink.exactly(2).await;
    dev_sign_in(&app, &browser(), "dev2", "bob", "bob@example.com", true).await;
    let bob = account_of(&app, I2, "bob").await.unwrap();
    let alice_two = app.state.accounts.find_identity(I2, "alice-two").await.unwrap().unwrap();
    let (admin, usable) = (Actor::admin("root"), SignInProviders::new(["dev", "dev2"]));

    let moved = app.state.accounts.move_identity(alice_two.id, &bob, &usable, &admin, app.clock.now_ms()).await;
    assert_eq!(moved.unwrap(), Ok(alice.clone()));
    let all = sink.exactly(5).await;
    assert_eq!(recipients(&all[2..]), ["alice-two@example.com", "alice@example.com", "bob@example.com"]);
    for m in &all[2..] {
        assert_eq!(m["subject"], "An identity of your account was moved to another account");
        let text = m["text"].as_str().unwrap();
        assert!(text.contains(&format!("moved from account {alice} to account {bob}")), "{text}");
        assert!(text.contains("an administrator (root)") && text.contains("alice-two"), "{text}");
    }

    let merged = app.state.accounts.merge(&bob, &alice, &admin, app.clock.now_ms()).await;
    assert_eq!(merged.unwrap(), Ok(2));
    let all = sink.exactly(8).await;
    assert_eq!(recipients(&all[5..]), ["alice-two@example.com", "alice@example.com", "bob@example.com"]);
    for m in &all[5..] {
        assert_eq!(m["subject"], "Your accounts were merged");
        let text = m["text"].as_str().unwrap();
        assert!(text.contains(&format!("Account {bob} was merged into account {alice}")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_smtp_down_the_change_succeeds_and_the_message_is_delivered_once_when_it_is_up() {
    let port = free_port();
    let db_dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&db_dir);
    let app = email_app(&url, port).await;
    alice_links_alice_two(&app, &browser()).await;

    // Each message is tried once, fails, and waits for its backoff (the clock is pinned).
    let db = Db::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = outbox(&db).await;
        if rows.len() == 2 && rows.iter().all(|r| r.1 == 1) {
            assert!(rows.iter().all(|r| !r.2 && r.3.is_some()), "failed, not delivered, reason kept: {rows:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt recorded: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let sink = Sink::start(port).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(sink.messages().is_empty(), "not retried before the backoff has passed");
    app.clock.advance(Duration::from_secs(2));
    let got = sink.exactly(2).await;
    assert_eq!(recipients(&got), ["alice-two@example.com", "alice@example.com"]);
    app.clock.advance(Duration::from_secs(3600));
    sink.exactly(2).await;
    let rows = outbox(&db).await;
    assert!(rows.iter().all(|r| r.1 == 1 && r.2), "delivered at the second attempt: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_the_server_refuses_for_good_is_given_up_at_once_and_the_others_are_delivered() {
    let port = free_port();
    let sink = Sink::start(port).await;
    let db_dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&db_dir);
    let app = email_app(&url, port).await;
    let b = browser();
    let r = dev_sign_in(&app, &b, "dev", "alice", "alice@example.com", true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The linked identity's address is one the SMTP server answers 550 for.
    let r = link(&app, &b, "dev2", "nobody-two").await;
    assert_eq!(location(&r), "/account?done=linked");
    let got = sink.exactly(1).await;
    assert_eq!(recipients(&got), ["alice@example.com"]);
    let db = Db::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let rows = outbox(&db).await;
        if let Some(row) = rows.iter().find(|r| r.0 == "nobody-two@example.com" && r.1 > 0) {
            break row.clone();
        }
        assert!(Instant::now() < deadline, "no attempt recorded: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!refused.2, "not delivered: {refused:?}");
    assert!(refused.3.as_deref().unwrap_or_default().contains("550"), "the server's reply is kept: {refused:?}");
    let max = NotifySettings::default().max_attempts;
    assert_eq!(refused.1, i64::try_from(max).unwrap(), "given up at once, not retried: {refused:?}");
    // Hours later nothing more is tried.
    app.clock.advance(Duration::from_secs(6 * 3600));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(outbox(&db).await.iter().find(|r| r.0 == "nobody-two@example.com").unwrap().1, refused.1);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_message_is_delivered_after_braid_restarts() {
    let port = free_port();
    let db_dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&db_dir);
    let app = email_app(&url, port).await;
    alice_links_alice_two(&app, &browser()).await;
    app.stop().await;
    let db = Db::connect(&url).await.unwrap();
    let rows = outbox(&db).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.2), "nothing was delivered: {rows:?}");

    let sink = Sink::start(port).await;
    let again = email_app(&url, port).await;
    // Past any backoff of the first braid's attempts.
    again.clock.advance(Duration::from_secs(3600));
    let got = sink.exactly(2).await;
    assert_eq!(recipients(&got), ["alice-two@example.com", "alice@example.com"]);
    assert!(outbox(&db).await.iter().all(|r| r.2));
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                super::$case(&crate::support::sqlite_url(&dir)).await;
            }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(&crate::support::fresh_pg_url().await).await; }
        )* }
    };
}

on_both!(two_replicas_on_one_database_send_each_message_once);

async fn two_replicas_on_one_database_send_each_message_once(url: &str) {
    let port = free_port();
    let sink = Sink::start(port).await;
    let db = Db::connect(url).await.unwrap();
    let clock: SharedClock = Arc::new(TestClock::at(1_700_000_000_000));
    let facts = ChangeFacts {
        action: "identity.linked".into(),
        at: 1_700_000_000_000,
        ip: Some("192.0.2.1".into()),
        actor: "admin:root".into(),
        account: "aOne".into(),
        other_account: None,
        identity: Some(IdentityFacts { issuer: "https://idp.example".into(), subject: "s1".into(), email: None }),
    };
    let to: Vec<String> = (0..12).map(|i| format!("person{i}@example.com")).collect();
    let mut with_duplicates = to.clone();
    with_duplicates.push("PERSON3@example.com".into());
    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(enqueue(&mut tx, "evt_1", &facts, &with_duplicates, clock.now_ms()).await.unwrap(), 12);
    tx.commit().await.unwrap();

    let email = EmailSettings {
        smtp_url: format!("smtp://127.0.0.1:{port}"),
        from: FROM.into(),
        starttls: None,
        username: None,
        password: None,
        password_file: None,
    };
    let settings = NotifySettings { poll_interval_ms: 20, max_attempts: 5, timeout_ms: 2000, email: None };
    let replica = || {
        let mailer = Mailer::from_settings(&email, "https://auth.example.com", Duration::from_secs(2)).unwrap();
        EmailNotifier::new(db.clone(), Some(mailer), clock.clone(), "https://auth.example.com", &settings)
    };
    let (one, two) = (replica(), replica());
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    assert_eq!(a.unwrap() + b.unwrap(), 12, "each row delivered by one replica");
    let got = sink.exactly(12).await;
    let mut ids: Vec<&str> = got.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no message sent twice");
    assert_eq!(recipients(&got), {
        let mut t = to.clone();
        t.sort();
        t
    });
    assert_eq!(one.run_once().await.unwrap() + two.run_once().await.unwrap(), 0);
}
