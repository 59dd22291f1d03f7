//! A client that hangs up mid-request does not cancel braid's work: every handler runs to the
//! end, so no PostgreSQL connection is left "idle in transaction" and the next requests succeed.
//! The requests are refresh-token rotations and first sign-ins, each a SQL transaction.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::helpers::*;
use crate::support;

/// Connections of database `name` that sit inside a transaction doing nothing.
async fn idle_in_transaction(name: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(&support::pg_admin_url()).await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    n
}

/// A request under way.
type Request = Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send>>;

/// The last step of a first sign-in as `username` (the dev provider's form posted, which creates
/// the account), in a browser of its own that has walked the steps before it.
async fn sign_in(app: &TestApp, username: &str) -> Request {
    let b = browser();
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    let state = form_state(&r.text().await.unwrap());
    let form = [("state", state), ("username", username.to_owned()), ("email", format!("{username}@example.com"))];
    Box::pin(b.post(app.url("/login/dev")).form(&form).send())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_leave_no_postgres_connection_idle_in_transaction() {
    let pg = support::fresh_pg_url().await;
    let db_name = pg.rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = pg.clone();
    let app = spawn_in(dir, move |d| settings(
            d,
            &accounts,
            "memory",
            // Hundreds of requests from one address on purpose; the limits have their own tests.
            "[log]\nlevel = \"error\"\n[limits]\nsign_in_starts_per_minute = 0\nprovider_starts_per_minute = 0\ncallbacks_per_minute = 0\ntoken_failures_per_minute = 0",
        )).await;
    let t: Value = redeem(&app, &code_for(&app, &browser(), "cora", "n").await).await.json().await.unwrap();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    // One connection per request, so that hanging up really closes it.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = app.url("/token");
    let rotation = move |token: String| -> Request {
        let req = client
            .post(&url)
            .basic_auth(APP_ID, Some(APP_SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())]);
        Box::pin(req.send())
    };
    // How long a whole (unknown-token) rotation and a whole first sign-in take here.
    let mut rotation_time = Duration::ZERO;
    for i in 0..5 {
        let started = Instant::now();
        assert_eq!(rotation(format!("warm-{i}")).await.unwrap().status(), StatusCode::BAD_REQUEST);
        rotation_time = rotation_time.max(started.elapsed());
    }
    let started = Instant::now();
    assert_eq!(sign_in(&app, "warm").await.await.unwrap().status(), StatusCode::SEE_OTHER);
    let sign_in_time = started.elapsed();

    // Rounds of requests that each run a SQL transaction: refresh-token rotations (a replayed
    // real token revokes its family, unknown ones roll back), then first sign-ins (each creates
    // an account). Each is abandoned by its client somewhere between 0 and about 1.5 times a
    // whole request: the connection closes while braid is inside the transaction.
    let mut cut = 0;
    for round in 0..20u32 {
        let mut requests: Vec<(Duration, Request)> = Vec::new();
        for i in 0..24u32 {
            let share = f64::from((i * 7 + round * 3) % 24) / 16.0;
            if round < 16 {
                let token = if i == 0 { refresh.clone() } else { format!("unknown-{round}-{i}") };
                requests.push((rotation_time.mul_f64(share), rotation(token)));
            } else {
                requests.push((sign_in_time.mul_f64(share), sign_in(&app, &format!("new-{round}-{i}")).await));
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (delay, request) in requests {
            tasks.spawn(async move { tokio::time::timeout(delay, request).await.is_err() });
        }
        while let Some(r) = tasks.join_next().await {
            cut += usize::from(r.unwrap());
        }
        // A transaction in flight is idle in transaction between two statements for a moment;
        // one abandoned by a cancelled request stays so until its connection is used again
        // (up to 2 s here, so that a slow machine's transaction in flight is not mistaken for it).
        let mut left = 0;
        for _ in 0..80 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            left = idle_in_transaction(&db_name).await;
            if left == 0 {
                break;
            }
        }
        assert_eq!(left, 0, "round {round}: a connection is left idle in transaction");
    }
    assert!(cut >= 60, "requests were cut off mid-way ({cut} of 480)");

    // The next requests all succeed.
    let (status, body) =
        token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", "nope")])
            .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    for n in 0..4 {
        let t: Value =
            redeem(&app, &code_for(&app, &browser(), &format!("next{n}"), "n").await).await.json().await.unwrap();
        let (status, body) = token_request(
            &app,
            (APP_ID, Some(APP_SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(idle_in_transaction(&db_name).await, 0);
}
