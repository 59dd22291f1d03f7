//! braid refuses to start on a Redis whose `maxmemory-policy` may evict its keys (every policy
//! but `noeviction`), at `serve` and in `braid check --online`, and starts on `noeviction`. Each
//! test runs a private `redis-server` on a free loopback port; the shared Redis is not touched.

use std::time::Duration;

use reqwest::StatusCode;

use crate::fail_closed::start_redis_with;
use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const LIMITED: [&str; 2] = ["--maxmemory", "64mb"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braid_refuses_a_redis_that_may_evict_its_keys() {
    for policy in ["allkeys-lru", "volatile-ttl"] {
        let port = free_port();
        let _redis = start_redis_with(port, &[&LIMITED[..], &["--maxmemory-policy", policy]].concat()).await;
        let dir = tempfile::tempdir().unwrap();
        write_dev_provider(dir.path());
        let sessions = format!("redis://127.0.0.1:{port}/0");
        let s = settings(dir.path(), &crate::support::sqlite_url(&dir), &sessions, "");
        let Err(e) = braid::Application::build(s).await else { panic!("braid started on maxmemory-policy {policy}") };
        let message = format!("{e:#}");
        assert!(
            message.starts_with(&format!(
                "session store {sessions}: maxmemory-policy is {policy}; braid needs noeviction"
            )),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braid_starts_on_a_redis_with_noeviction() {
    let port = free_port();
    let _redis = start_redis_with(port, &[&LIMITED[..], &["--maxmemory-policy", "noeviction"]].concat()).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let (accounts, sessions) = (crate::support::sqlite_url(&dir), format!("redis://127.0.0.1:{port}/0"));
    let app = spawn_in(dir, move |d| settings(d, &accounts, &sessions, "")).await;
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), StatusCode::OK);
    let code = code_for(&app, &browser(), "nora", "n").await;
    assert_eq!(redeem(&app, &code).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braid_check_online_names_an_evicting_redis() {
    let port = free_port();
    let redis = start_redis_with(port, &[&LIMITED[..], &["--maxmemory-policy", "allkeys-lfu"]].concat()).await;
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let sessions = format!("redis://127.0.0.1:{port}/0");
    std::fs::write(dir.path().join("braid.toml"), format!("[store]\nsessions = \"{sessions}\"\n")).unwrap();
    let check = |dir: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_braid"))
                .current_dir(dir)
                .args(["check", "--online"])
                .output()
                .unwrap()
        })
    };
    let o = check(dir.path().to_owned()).await.unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "braid.toml: key `store.sessions`: session store {sessions}: maxmemory-policy is allkeys-lfu; braid needs noeviction"
        )),
        "{stderr}"
    );
    // On noeviction the same check passes.
    drop(redis);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _redis = start_redis_with(port, &["--maxmemory-policy", "noeviction"]).await;
    let o = check(dir.path().to_owned()).await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
