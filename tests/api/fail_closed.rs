//! Redis going away at run time: braid fails closed (503, readiness false, no check skipped),
//! and once Redis is back it reconnects by itself; Redis-held state is simply gone.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// A private `redis-server` on a loopback port, killed when dropped.
pub struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_redis(port: u16) -> Redis {
    start_redis_with(port, &[]).await
}

/// Start `redis-server` on `port` without persistence, with `extra` arguments.
pub async fn start_redis_with(port: u16, extra: &[&str]) -> Redis {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        // Any dump it still writes (a replica's sync, DEBUG RELOAD) lands outside the checkout.
        .arg("--dir")
        .arg(std::env::temp_dir())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test installs it)");
    let redis = Redis(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not start on {port}");
}

async fn status_of(url: String) -> StatusCode {
    browser().get(url).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braid_fails_closed_while_redis_is_down_and_recovers_when_it_returns() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = start_redis(port).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = crate::support::sqlite_url(&dir);
    let sessions = format!("redis://127.0.0.1:{port}/0");
    let app = spawn_in(dir, move |d| settings(d, &accounts, &sessions, "")).await;

    // A sign-in is under way, and one code is ready for redemption.
    let code = code_for(&app, &browser(), "ursula", "n").await;
    let b = browser();
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    let to_login = location(&r);
    assert_eq!(status_of(app.url("/readyz")).await, StatusCode::OK);

    drop(redis);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json::<Value>().await.unwrap()["sessions"], false);
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "no redirect, no skipped check");
    assert_eq!(status_of(app.url(&to_login.replace("/login?", "/login/dev?"))).await, StatusCode::SERVICE_UNAVAILABLE);
    let r = redeem(&app, &code).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");

    // Redis returns empty (no persistence): braid reconnects; what Redis held is gone.
    let _redis = start_redis(port).await;
    let mut ready = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        ready = status_of(app.url("/readyz")).await;
        if ready == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, StatusCode::OK, "reconnected by itself");
    let r = redeem(&app, &code).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant", "the code died with Redis");
    assert_eq!(
        status_of(app.url(&to_login.replace("/login?", "/login/dev?"))).await,
        StatusCode::BAD_REQUEST,
        "the transaction died with Redis"
    );
    let fresh = code_for(&app, &browser(), "ursula", "n").await;
    assert_eq!(redeem(&app, &fresh).await.status(), StatusCode::OK);
}
