//! Replicas are stateless: two `braid` processes on one Redis and one PostgreSQL serve a single
//! sign-in together, each step landing on the other process. The first runs on a
//! single-threaded runtime (`worker_threads = 1`, as braid does on one core), the second on one
//! thread per core.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::support;

pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn start_braid(config: &std::path::Path, base: &str) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("braid starts");
    let proc = Proc(child);
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status() == StatusCode::OK {
                return proc;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("braid at {base} did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_redis_and_postgres_serve_one_sign_in_together() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let pg = support::fresh_pg_url().await;
    let prefix = support::unique("braidtest:");
    let (pa, pb) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let mut bases = Vec::new();
    let mut procs = Vec::new();
    for (port, threads) in [(pa, 1), (pb, 0)] {
        let cfg = dir.path().join(format!("braid-{port}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{public}\"\nworker_threads = {threads}\n\
                 [store]\naccounts = \"{pg}\"\nsessions = \"{}\"\nredis_key_prefix = \"{prefix}\"\n\
                 [keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n[log]\nlevel = \"warn\"\n{CLIENTS_TOML}",
                support::redis_url(),
                dir.path().join("keys").display(),
                dir.path().join("providers").display(),
            ),
        )
        .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // Started one after the other so both load the key the first one made.
        procs.push(start_braid(&cfg, &base).await);
        bases.push(base);
    }
    let (a, b) = (bases[0].as_str(), bases[1].as_str());

    let br = browser();
    let (verifier, challenge) = pkce();
    let q = authorize_query(APP_ID, APP_CB, Some(&challenge), "n-replica");
    // authorize on A, chooser on B, provider form on A, callback (form post) on B.
    let back = walk_sign_in(&br, &[a, b, a, b], &q, "rita", "rita@example.com").await;
    let code = query_param(&back, "code").expect("code");
    // The code is redeemed at A.
    let r = reqwest::Client::new()
        .post(format!("{a}/token"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let id = verify_id_token(b, t["id_token"].as_str().unwrap(), APP_ID).await;
    assert_eq!(id["iss"], public.as_str());
    assert_eq!(id["nonce"], "n-replica");
    // B accepts A's access token and refreshes A's refresh token.
    let info: Value = reqwest::Client::new()
        .get(format!("{b}/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id["sub"]);
    let r = reqwest::Client::new()
        .post(format!("{b}/token"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The code cannot be redeemed again at B either.
    let r = reqwest::Client::new()
        .post(format!("{b}/token"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The browser session made on B is valid on A.
    let r = br.get(format!("{a}/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(procs);
}
