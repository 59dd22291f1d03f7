//! A client that hangs up mid-request does not cancel braid's work: every handler runs to the
//! end, so no PostgreSQL connection is left "idle in transaction" and the next requests succeed.

use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_leave_no_postgres_connection_idle_in_transaction() {
    let pg = support::fresh_pg_url().await;
    let db_name = pg.rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = pg.clone();
    let app = spawn_in(dir, move |d| settings(d, &accounts, "memory", "[log]\nlevel = \"error\"")).await;
    let t: Value = redeem(&app, &code_for(&app, &browser(), "cora", "n").await).await.json().await.unwrap();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    // One connection per request, so that hanging up really closes it.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = app.url("/token");
    let refresh_form = move |token: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(&url)
                .basic_auth(APP_ID, Some(APP_SECRET))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                .send()
                .await
        }
    };
    // How long a whole (unknown-token) rotation takes here.
    let mut full = Duration::ZERO;
    for i in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(refresh_form(format!("warm-{i}")).await.unwrap().status(), StatusCode::BAD_REQUEST);
        full = full.max(started.elapsed());
    }

    // Rounds of refresh-token rotations (each one a SQL transaction), each abandoned by its
    // client somewhere between 0 and 1.5 times a whole request: the connection closes while braid
    // is inside the transaction. After each round, no connection may stay idle in transaction.
    let mut cut = 0;
    for round in 0..16u32 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..24u32 {
            // A replayed real token revokes its family (a write); the others are unknown.
            let token = if i == 0 { refresh.clone() } else { format!("unknown-{round}-{i}") };
            let delay = full.mul_f64(f64::from((i * 7 + round * 3) % 24) / 16.0);
            let send = refresh_form(token);
            tasks.spawn(async move { tokio::time::timeout(delay, send).await.is_err() });
        }
        while let Some(r) = tasks.join_next().await {
            cut += usize::from(r.unwrap());
        }
        // A transaction in flight is idle in transaction between two statements for a moment;
        // one abandoned by a cancelled request stays so until its connection is used again.
        let mut left = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            left = idle_in_transaction(&db_name).await;
            if left == 0 {
                break;
            }
        }
        assert_eq!(left, 0, "round {round}: a connection is left idle in transaction");
    }
    assert!(cut > 100, "most requests were cut off mid-way ({cut} of 384)");

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
