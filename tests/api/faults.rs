//! Faults under load, bounded in time, on loopback. Twenty clients sign in and refresh while
//! Redis (or PostgreSQL) is cut off for two seconds, through a TCP relay the test controls.
//! Every request completes correctly or fails closed (503, as a page or as OAuth
//! `temporarily_unavailable`); none is half done (no code that does not redeem for a session
//! that was never stored, no refresh token rotated without the client receiving the new one); and
//! braid serves again by itself once the store is back. An upstream provider that hangs, is slow
//! or answers 5xx gives the person a clear error within the configured timeout while other
//! providers keep working.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};

use crate::helpers::*;

/// A TCP relay to `target` that can be cut: every open connection is closed and new ones are
/// refused until it is joined again.
pub struct Relay {
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Relay {
    pub async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (flag, cuts) = (up.clone(), cut.subscribe());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { port, up, cut }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn join(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// What one operation ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Done,
    FailedClosed,
    /// Anything else: the test fails with it.
    Wrong(String),
}

fn fail_closed(status: StatusCode, body: &str) -> End {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        End::FailedClosed
    } else {
        End::Wrong(format!("{status}: {}", body.chars().take(300).collect::<String>()))
    }
}

/// One whole sign-in (authorize, dev form, code redeemed) as a new person, never asserting.
async fn sign_in(app: &TestApp, user: &str) -> End {
    let b = browser();
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.push(("idp_hint".into(), "dev".into()));
    let r = match b.get(app.url("/authorize")).query(&q).send().await {
        Ok(r) => r,
        Err(e) => return End::Wrong(e.to_string()),
    };
    let mut r = r;
    for _ in 0..2 {
        if r.status() != StatusCode::SEE_OTHER {
            let s = r.status();
            return fail_closed(s, &r.text().await.unwrap_or_default());
        }
        r = b.get(app.url(&location(&r))).send().await.unwrap();
    }
    if r.status() != StatusCode::OK {
        let s = r.status();
        return fail_closed(s, &r.text().await.unwrap_or_default());
    }
    let state = form_state(&r.text().await.unwrap());
    let form = [("state", state), ("username", user.to_owned()), ("email", format!("{user}@example.com"))];
    let r = b.post(app.url("/login/dev")).form(&form).send().await.unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        let s = r.status();
        return fail_closed(s, &r.text().await.unwrap_or_default());
    }
    let back = location(&r);
    let Some(code) = query_param(&back, "code") else {
        return End::Wrong(format!("a redirect without a code: {back}"));
    };
    let r = redeem(app, &code).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match (status, body["error"].as_str()) {
        (StatusCode::OK, _) if body["id_token"].is_string() => End::Done,
        (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")) => End::FailedClosed,
        _ => End::Wrong(format!("a code braid issued did not redeem: {status} {body}")),
    }
}

/// One refresh of `chain` (its token replaced when rotated).
async fn refresh(app: &TestApp, chain: &Mutex<String>) -> End {
    let mut token = chain.lock().await;
    let (status, body) =
        token_request(app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .await;
    match (status, body["error"].as_str()) {
        (StatusCode::OK, _) => {
            *token = body["refresh_token"].as_str().unwrap().to_owned();
            End::Done
        }
        (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")) => End::FailedClosed,
        _ => End::Wrong(format!("refresh: {status} {body}")),
    }
}

/// Twenty clients (ten signing in, ten refreshing) for `run`, with `relay` cut from `cut_at` for
/// `cut_for`; then every refresh chain and a new sign-in must work again within 15 s.
async fn under_load(app: Arc<TestApp>, relay: &Relay, run: Duration, cut_at: Duration, cut_for: Duration) {
    let app_ref = &*app;
    let mut chains = Vec::new();
    for i in 0..10 {
        let t: Value = redeem(app_ref, &code_for(app_ref, &browser(), &format!("chain{i}"), "n").await)
            .await
            .json()
            .await
            .unwrap();
        chains.push(Arc::new(Mutex::new(t["refresh_token"].as_str().unwrap().to_owned())));
    }
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..20usize {
        let (app, chain) = (app.clone(), chains[w % 10].clone());
        workers.spawn(async move {
            let mut ends = Vec::new();
            let mut n = 0;
            while started.elapsed() < run {
                n += 1;
                let end =
                    if w % 2 == 0 { sign_in(&app, &format!("w{w}-{n}")).await } else { refresh(&app, &chain).await };
                ends.push(end);
            }
            ends
        });
    }
    tokio::time::sleep(cut_at).await;
    relay.cut();
    tokio::time::sleep(cut_for).await;
    relay.join();
    let mut all = Vec::new();
    while let Some(ends) = workers.join_next().await {
        all.extend(ends.unwrap());
    }
    let wrong: Vec<&End> = all.iter().filter(|e| matches!(e, End::Wrong(_))).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} requests ended wrongly: {:?}",
        wrong.len(),
        all.len(),
        &wrong[..wrong.len().min(5)]
    );
    let failed = all.iter().filter(|e| **e == End::FailedClosed).count();
    assert!(failed > 0, "the cut was felt: some requests failed closed ({} in all)", all.len());
    assert!(all.iter().filter(|e| **e == End::Done).count() > 0, "requests completed around the cut");

    // Back by itself: every chain still refreshes (no token was lost), and a new sign-in works.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut pending: Vec<_> = chains.clone();
    while !pending.is_empty() {
        assert!(Instant::now() < deadline, "braid did not recover within 15 s");
        let mut still = Vec::new();
        for chain in pending {
            match refresh(app_ref, &chain).await {
                End::Done => {}
                End::FailedClosed => still.push(chain),
                End::Wrong(w) => panic!("after the cut, a refresh chain is broken: {w}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    loop {
        match sign_in(app_ref, "after-the-cut").await {
            End::Done => break,
            End::FailedClosed if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("a sign-in after the cut: {other:?}"),
        }
    }
}

/// The limits are off: the load comes from one address on purpose.
const NO_LIMITS: &str = "[limits]\nsign_in_starts_per_minute = 0\nprovider_starts_per_minute = 0\n\
                         callbacks_per_minute = 0\ntoken_failures_per_minute = 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cut_off_under_load_fails_closed_and_recovers() {
    let redis: SocketAddr = {
        let u = url::Url::parse(&crate::support::redis_url()).unwrap();
        format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(6379)).parse().unwrap()
    };
    let relay = Relay::to(redis).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let sessions = format!("redis://127.0.0.1:{}/0", relay.port);
    let app = spawn_in(dir, move |d| settings(d, &url, &sessions, NO_LIMITS)).await;
    under_load(Arc::new(app), &relay, Duration::from_millis(4500), Duration::from_millis(1000), Duration::from_secs(2))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_under_load_fails_closed_and_recovers() {
    let pg = crate::support::fresh_pg_url().await;
    let u = url::Url::parse(&pg).unwrap();
    let target: SocketAddr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432)).parse().unwrap();
    let relay = Relay::to(target).await;
    let mut through = u.clone();
    through.set_port(Some(relay.port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = through.to_string();
    let app = spawn_in(dir, move |d| settings(d, &accounts, "memory", NO_LIMITS)).await;
    under_load(Arc::new(app), &relay, Duration::from_millis(4500), Duration::from_millis(1000), Duration::from_secs(2))
        .await;
}

/// braid with the mock OIDC provider `mock` (upstream calls bounded by 1 s) and the dev provider.
async fn with_mock_upstream() -> (TestApp, crate::mock_idp::MockIdp) {
    let clock = Arc::new(braid::clock::TestClock::starting_now());
    let mock = crate::mock_idp::MockIdp::start(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    std::fs::write(dir.path().join("providers/mock.toml"), mock.provider_toml("")).unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| {
        let mut s = settings(d, &url, "memory", NO_LIMITS);
        s.providers.upstream_timeout_secs = 1;
        s
    })
    .await;
    (app, mock)
}

/// A browser sent to the mock and back: braid's callback URL for it.
async fn at_callback(app: &TestApp, b: &reqwest::Client) -> String {
    let r = b.get(app.url("/login/mock")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    location(&r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_that_hangs_is_slow_or_fails_gives_a_clear_error_in_time_while_others_work() {
    let (app, mock) = with_mock_upstream().await;
    let app = Arc::new(app);
    // Hanging: the person gets an error page within the timeout (1 s, plus slack), and a dev
    // sign-in meanwhile is not held up.
    mock.set(|b| b.token_delay_ms = 30_000);
    let b = browser();
    let callback = at_callback(&app, &b).await;
    let hanging = tokio::spawn(async move {
        let t = Instant::now();
        let r = b.get(&callback).send().await.unwrap();
        (r.status(), r.text().await.unwrap(), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    assert_eq!(sign_in(&app, "bystander").await, End::Done, "another provider keeps working");
    assert!(t.elapsed() < Duration::from_millis(900), "not held up: {:?}", t.elapsed());
    let (status, page, took) = hanging.await.unwrap();
    assert!(status.is_client_error() || status.is_server_error(), "{status}");
    assert!(page.contains("<h1>"), "a readable page: {page}");
    assert!(took < Duration::from_secs(4), "answered within the timeout: {took:?}");

    // Answering 5xx: a clear error at once.
    mock.set(|b| {
        b.token_delay_ms = 0;
        b.token_status = Some(503);
    });
    let b = browser();
    let callback = at_callback(&app, &b).await;
    let t = Instant::now();
    let r = b.get(&callback).send().await.unwrap();
    assert!(r.status().is_client_error() || r.status().is_server_error(), "{}", r.status());
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(r.text().await.unwrap().contains("<h1>"));

    // Slow but within the timeout: the sign-in completes.
    mock.set(|b| {
        b.token_status = None;
        b.token_delay_ms = 300;
    });
    let b = browser();
    let callback = at_callback(&app, &b).await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a slow upstream within the timeout signs in");
}
