//! Webhook delivery from the durable outbox: transactional enqueue, signed delivery, backoff,
//! failures recorded, leases between replicas, the attempt limit, and the `[[webhooks]]` and
//! `[notify]` settings. Delivery and the replica lease run on SQLite and on PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use braid::clock::{Clock, SharedClock, TestClock};
use braid::config::{NotifySettings, Settings, WebhookSettings};
use braid::db::Db;
use braid::notify::{Notifier, Webhook, enqueue};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Row;

use crate::support;

const T0: i64 = 1_700_000_000_000;
const SECRET: &str = "whsec_integration_secret";
const UNREACHABLE: &str = "http://127.0.0.1:1/hook";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

/// A webhook receiver on 127.0.0.1:0 that records every request and answers 500 to the first
/// `fail_first` of them, 204 afterwards.
#[derive(Clone)]
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    fail_first: usize,
    delay: Duration,
    url: String,
}

impl Receiver {
    async fn start(fail_first: usize, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let me = Self { requests: Arc::default(), fail_first, delay, url };
        let app = axum::Router::new().route("/hook", axum::routing::post(record)).with_state(me.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        me
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn record(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let n = {
        let mut reqs = r.requests.lock().unwrap();
        reqs.push(Received {
            event_id: h("x-braid-event-id"),
            timestamp: h("x-braid-timestamp"),
            signature: h("x-braid-signature"),
            content_type: h("content-type"),
            body: body.to_vec(),
        });
        reqs.len()
    };
    tokio::time::sleep(r.delay).await;
    if n <= r.fail_first { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }
}

/// The signature recomputed here, independently of braid's code.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = format!("{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    let hex: String = hmac::sign(&key, &msg).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

struct Fixture {
    url: String,
    db: Db,
    clock: Arc<TestClock>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Debug)]
struct OutboxRow {
    attempts: i64,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    last_error: Option<String>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    fixture(url, Some(dir)).await
}

async fn postgres() -> Fixture {
    fixture(support::fresh_pg_url().await, None).await
}

async fn fixture(url: String, dir: Option<tempfile::TempDir>) -> Fixture {
    let db = Db::connect(&url).await.expect("connect and migrate");
    Fixture { url, db, clock: Arc::new(TestClock::at(T0)), _dir: dir }
}

impl Fixture {
    fn notifier_on(&self, db: Db, urls: &[&str], max_attempts: u64) -> Notifier {
        let hooks = urls
            .iter()
            .map(|u| Webhook { url: (*u).to_owned(), secret: SecretString::from(SECRET.to_owned()) })
            .collect();
        let settings = NotifySettings { poll_interval_ms: 20, max_attempts, timeout_ms: 2000, email: None };
        let clock: SharedClock = self.clock.clone();
        Notifier::new(db, hooks, clock, &settings).unwrap()
    }

    fn notifier(&self, urls: &[&str]) -> Notifier {
        self.notifier_on(self.db.clone(), urls, 20)
    }

    /// Enqueue an event in a committed transaction; returns the event.
    async fn enqueue_committed(&self, id: &str) -> Value {
        let event = json!({ "id": id, "type": "identity.linked", "account_id": "acc_1", "at": T0 });
        let mut tx = self.db.pool.begin().await.unwrap();
        enqueue(&mut tx, &event, self.clock.now_ms()).await.unwrap();
        tx.commit().await.unwrap();
        event
    }

    async fn row(&self, event_id: &str) -> OutboxRow {
        let r = sqlx::query(
            "SELECT attempts, next_attempt_at, delivered_at, last_error FROM webhook_outbox WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        OutboxRow {
            attempts: r.get("attempts"),
            next_attempt_at: r.get("next_attempt_at"),
            delivered_at: r.get("delivered_at"),
            last_error: r.get("last_error"),
        }
    }

    async fn rows(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM webhook_outbox").fetch_one(&self.db.pool).await.unwrap().get("n")
    }

    fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::sqlite().await).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::postgres().await).await; }
        )* }
    };
}

on_both!(
    a_committed_event_is_delivered_once_with_a_signature_the_receiver_can_verify,
    a_failing_receiver_is_retried_only_after_the_backoff_and_then_delivered,
    two_notifiers_on_one_database_deliver_each_row_once,
);

async fn a_committed_event_is_delivered_once_with_a_signature_the_receiver_can_verify(f: Fixture) {
    let rx = Receiver::start(0, Duration::ZERO).await;
    let event = f.enqueue_committed("evt_committed").await;
    assert_eq!(f.notifier(&[&rx.url]).run_once().await.unwrap(), 1);

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let got = &reqs[0];
    assert_eq!(got.event_id, "evt_committed");
    assert_eq!(got.content_type, "application/json");
    assert_eq!(got.timestamp, (T0 / 1000).to_string(), "the timestamp comes from the braid clock");
    assert_eq!(serde_json::from_slice::<Value>(&got.body).unwrap(), event);
    assert_eq!(got.signature, expected_signature(SECRET, &got.timestamp, &got.body));
    assert_ne!(got.signature, expected_signature("another secret", &got.timestamp, &got.body));

    let row = f.row("evt_committed").await;
    assert_eq!(row.delivered_at, Some(T0));
    assert_eq!(row.attempts, 0);
}

async fn a_failing_receiver_is_retried_only_after_the_backoff_and_then_delivered(f: Fixture) {
    let rx = Receiver::start(2, Duration::ZERO).await;
    f.enqueue_committed("evt_retry").await;
    let n = f.notifier(&[&rx.url]);

    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(rx.count(), 1);
    let row = f.row("evt_retry").await;
    assert_eq!((row.attempts, row.next_attempt_at, row.delivered_at), (1, T0 + 2_000, None));
    assert_eq!(row.last_error.as_deref(), Some("webhooks[0]: HTTP 500"));

    f.advance_ms(1_999);
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(rx.count(), 1, "not retried before next_attempt_at");
    f.advance_ms(1);
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(rx.count(), 2, "retried once next_attempt_at has come");
    let row = f.row("evt_retry").await;
    assert_eq!((row.attempts, row.next_attempt_at), (2, T0 + 2_000 + 4_000), "the backoff doubles");

    f.advance_ms(3_999);
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(rx.count(), 2);
    f.advance_ms(1);
    assert_eq!(n.run_once().await.unwrap(), 1);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    let last = &reqs[2];
    assert_eq!(last.timestamp, (T0 / 1000 + 6).to_string());
    assert_eq!(last.signature, expected_signature(SECRET, &last.timestamp, &last.body));
    let row = f.row("evt_retry").await;
    assert_eq!((row.attempts, row.delivered_at), (2, Some(T0 + 6_000)));
    assert_eq!(row.last_error.as_deref(), Some("webhooks[0]: HTTP 500"), "the last failure stays on record");
}

async fn two_notifiers_on_one_database_deliver_each_row_once(f: Fixture) {
    // A slow receiver keeps both notifiers busy at once, so without the claim both would send
    // every row.
    let rx = Receiver::start(0, Duration::from_millis(10)).await;
    for i in 0..20 {
        f.enqueue_committed(&format!("evt_{i:02}")).await;
    }
    let a = f.notifier_on(f.db.clone(), &[&rx.url], 20);
    let b = f.notifier_on(Db::connect(&f.url).await.unwrap(), &[&rx.url], 20);
    let (da, db) = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(da.unwrap() + db.unwrap(), 20);
    let ids: Vec<String> = rx.requests().into_iter().map(|r| r.event_id).collect();
    assert_eq!(ids.len(), 20, "each row is sent exactly once: {ids:?}");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 20);
    for i in 0..20 {
        assert!(f.row(&format!("evt_{i:02}")).await.delivered_at.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_enqueued_in_a_rolled_back_transaction_is_never_sent() {
    let f = sqlite().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let mut tx = f.db.pool.begin().await.unwrap();
    enqueue(&mut tx, &json!({ "id": "evt_rolled_back" }), T0).await.unwrap();
    tx.rollback().await.unwrap();
    f.enqueue_committed("evt_kept").await;

    assert_eq!(f.notifier(&[&rx.url]).run_once().await.unwrap(), 1);
    let ids: Vec<String> = rx.requests().into_iter().map(|r| r.event_id).collect();
    assert_eq!(ids, ["evt_kept"]);
    assert_eq!(f.rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_row_is_not_sent_again_and_a_repeated_event_id_is_stored_once() {
    let f = sqlite().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    f.enqueue_committed("evt_once").await;
    let n = f.notifier(&[&rx.url]);
    assert_eq!(n.run_once().await.unwrap(), 1);

    f.advance_ms(2 * 3_600_000);
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(f.notifier(&[&rx.url]).run_once().await.unwrap(), 0);
    f.enqueue_committed("evt_once").await;
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(rx.count(), 1);
    assert_eq!(f.rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_malformed_webhook_is_recorded_and_later_rows_are_still_sent() {
    let f = sqlite().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    f.enqueue_committed("evt_a").await;
    f.enqueue_committed("evt_b").await;
    let n = f.notifier(&[&rx.url, UNREACHABLE, "not a url"]);

    assert_eq!(n.run_once().await.unwrap(), 0);
    let ids: Vec<String> = rx.requests().into_iter().map(|r| r.event_id).collect();
    assert_eq!(ids, ["evt_a", "evt_b"], "the second row is still sent after the first failed");
    for id in ["evt_a", "evt_b"] {
        let row = f.row(id).await;
        assert_eq!((row.attempts, row.delivered_at), (1, None), "one receiver down keeps the row undelivered");
        let err = row.last_error.unwrap();
        assert!(err.starts_with("webhooks[1]: unreachable"), "{err}");
        assert!(err.contains("; webhooks[2]: bad request"), "{err}");
        assert!(!err.contains("webhooks[0]") && !err.contains(SECRET), "{err}");
    }

    f.advance_ms(2_000);
    assert_eq!(n.run_once().await.unwrap(), 0);
    assert_eq!(f.row("evt_a").await.attempts, 2);
    assert_eq!(f.row("evt_b").await.attempts, 2);
    assert_eq!(rx.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_after_max_attempts() {
    let f = sqlite().await;
    let rx = Receiver::start(usize::MAX, Duration::ZERO).await;
    f.enqueue_committed("evt_doomed").await;
    let n = f.notifier_on(f.db.clone(), &[&rx.url], 3);
    for _ in 0..6 {
        assert_eq!(n.run_once().await.unwrap(), 0);
        f.advance_ms(3_600_000);
    }
    assert_eq!(rx.count(), 3);
    let row = f.row("evt_doomed").await;
    assert_eq!((row.attempts, row.delivered_at), (3, None));
    assert_eq!(row.last_error.as_deref(), Some("webhooks[0]: HTTP 500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_webhooks_due_rows_are_marked_delivered() {
    let f = sqlite().await;
    f.enqueue_committed("evt_due").await;
    let mut tx = f.db.pool.begin().await.unwrap();
    enqueue(&mut tx, &json!({ "id": "evt_later" }), T0 + 60_000).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(f.notifier(&[]).run_once().await.unwrap(), 1);
    assert_eq!(f.row("evt_due").await.delivered_at, Some(T0));
    assert_eq!(f.row("evt_later").await.delivered_at, None, "not due yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_a_string_id_is_refused() {
    let f = sqlite().await;
    let mut conn = f.db.pool.acquire().await.unwrap();
    for bad in [json!({ "type": "x" }), json!({ "id": 7 }), json!({ "id": "" })] {
        assert!(enqueue(&mut conn, &bad, T0).await.is_err(), "{bad}");
    }
    drop(conn);
    assert_eq!(f.rows().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spawned_worker_delivers_without_being_asked() {
    let f = sqlite().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let task = f.notifier(&[&rx.url]).spawn();
    f.enqueue_committed("evt_background").await;
    for _ in 0..250 {
        if f.row("evt_background").await.delivered_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(f.row("evt_background").await.delivered_at, Some(T0));
    assert_eq!(rx.count(), 1);
}

#[test]
fn webhook_settings_are_checked_with_precise_keys() {
    let hook = |url: &str, secret: Option<&str>, file: Option<&str>| WebhookSettings {
        url: url.into(),
        secret: secret.map(|s| SecretString::from(s.to_owned())),
        secret_file: file.map(Into::into),
    };
    let s = Settings {
        webhooks: vec![
            hook("https://hooks.example/braid", Some("s"), None),
            hook("http://127.0.0.1:9000/hook", None, Some("/run/secrets/hook")),
            hook("http://hooks.example/braid", Some("s"), None),
            hook("ftp://hooks.example/braid", Some("s"), None),
            hook("https://hooks.example/braid", None, None),
            hook("https://hooks.example/braid", Some("s"), Some("/run/secrets/hook")),
            hook("https://hooks.example/braid", Some(""), None),
        ],
        notify: NotifySettings { max_attempts: 0, ..NotifySettings::default() },
        ..Settings::default()
    };
    let err = s.check("braid.toml").unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "notify.max_attempts",
            "webhooks[2].url",
            "webhooks[3].url",
            "webhooks[4].secret",
            "webhooks[5].secret_file",
            "webhooks[6].secret",
        ],
        "{err}"
    );
    assert!(err.to_string().contains("must use https (http is allowed only on loopback)"), "{err}");
}

#[test]
fn webhooks_and_notify_load_from_braid_toml_and_resolve_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "from-file\n").unwrap();
    let cfg = dir.path().join("braid.toml");
    std::fs::write(
        &cfg,
        format!(
            "[notify]\npoll_interval_ms = 250\n\n\
             [[webhooks]]\nurl = \"https://hooks.example/a\"\nsecret = \"inline\"\n\n\
             [[webhooks]]\nurl = \"http://localhost:9000/b\"\nsecret_file = {:?}\n",
            secret_file.display().to_string()
        ),
    )
    .unwrap();
    let s = Settings::load(&cfg, true).unwrap();
    assert_eq!((s.notify.poll_interval_ms, s.notify.max_attempts, s.notify.timeout_ms), (250, 20, 5000));
    let hooks = Webhook::from_settings(&s).unwrap();
    use secrecy::ExposeSecret;
    let got: Vec<(&str, &str)> = hooks.iter().map(|h| (h.url.as_str(), h.secret.expose_secret())).collect();
    assert_eq!(got, [("https://hooks.example/a", "inline"), ("http://localhost:9000/b", "from-file")]);

    std::fs::write(&cfg, "[notify]\npoll_interval = 5\n").unwrap();
    let err = Settings::load(&cfg, true).unwrap_err().to_string();
    assert!(err.contains("notify.poll_interval"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_rows_are_pruned_after_the_retention_and_undelivered_ones_stay() {
    let f = sqlite().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    f.enqueue_committed("evt_old").await;
    let n = f.notifier(&[&rx.url]);
    assert_eq!(n.run_once().await.unwrap(), 1);
    let down = f.notifier(&["http://127.0.0.1:1/hook"]);
    f.enqueue_committed("evt_stuck").await;
    down.run_once().await.unwrap();
    assert_eq!(n.prune().await.unwrap(), 0, "nothing is old enough yet");
    f.advance_ms(u64::try_from(braid::notify::RETENTION_MS).unwrap() + 1);
    assert_eq!(n.prune().await.unwrap(), 1);
    assert_eq!(f.rows().await, 1, "the undelivered row stays");
    assert!(f.row("evt_stuck").await.delivered_at.is_none());
}
