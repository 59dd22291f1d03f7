//! What the rate limits cost, measured directly rather than as the difference of two noisy
//! sign-in runs: how many budget checks one sign-in makes (Redis's own `INFO commandstats`
//! count of scripts run, before and after the sign-ins) and what one check costs a client
//! (sequential `SessionStore::throttle` calls on the same Redis).

use std::time::{Duration, Instant};

use braid::sessions::{RedisSessionStore, SessionStore};

/// Scripts Redis has run (`EVAL` and `EVALSHA` calls), from `INFO commandstats`.
pub async fn scripts_run(url: &str) -> Option<u64> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.ok()?;
    let calls = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(calls("evalsha") + calls("eval"))
}

/// Microseconds one budget check takes from a client, over `rounds` sequential checks.
pub async fn micros_per_check(url: &str, rounds: u32) -> Result<f64, String> {
    let store =
        RedisSessionStore::connect(url, "braid-bench:", Duration::from_secs(2)).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    for i in 0..rounds {
        store
            .throttle(&format!("lim:bench-{}", i % 64), i64::from(i), 1, 1_000_000, true)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}
