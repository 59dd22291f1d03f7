//! Brokered sign-ins of known users with the measured braid alone on one pinned core: `braid
//! serve` on core 0 with an `oidc` provider pointing at an upstream OpenID Provider that runs
//! inside this driver, pinned with it to core 1: the fast local provider (`fast_op`, the
//! default), or a second braid with its dev provider (`--upstream braid`). Each
//! sign-in is the whole flow an application and a browser make: `/authorize`, the chooser, the
//! upstream's authorize and dev form, the callback, and the code redeemed at `/token` (an ID
//! token and an access token signed with the algorithm measured). Prints ops/s, p50/p99, the
//! share of core 0 braid used (so sign-ins per core) and how busy the driver's core was, and says
//! when the driver (and the upstream beside it), not braid, was saturated.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::pinned::{self, Braid};
use crate::{LIMITS_ON, SECRET};

/// Known users the measured sign-ins cycle through (each signed in once before the clock).
const USERS: usize = 50;

/// One algorithm's run: the figures line, or why it was skipped.
async fn run_alg(
    http: &reqwest::Client,
    dir: &Path,
    accounts: &str,
    sessions: &str,
    alg: &str,
    c: usize,
    secs: u64,
) -> Result<(), String> {
    let own = dir.join(format!("brokered_{}", alg.to_lowercase()));
    // The directory names name the PostgreSQL databases made beside `accounts`: one per run.
    let (up_dir, down_dir) =
        (own.join(format!("up_{}", alg.to_lowercase())), own.join(format!("broker_{}", alg.to_lowercase())));
    for d in [&up_dir, &down_dir] {
        std::fs::create_dir_all(d.join("providers")).map_err(|e| e.to_string())?;
    }
    std::fs::write(up_dir.join("providers/dev.toml"), "kind = \"dev\"\n").map_err(|e| e.to_string())?;
    let port = pinned::free_port()?;
    let down = format!("http://127.0.0.1:{port}");
    let up_client =
        // ES256 at the upstream whatever is measured: its signatures are on the driver's core.
        format!("[[clients]]\nid = \"broker\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{down}/callback/up\"]\nid_token_signed_response_alg = \"ES256\"\n");
    // The upstream: the fast local provider (the default), or a second braid (`--upstream braid`).
    let fast = crate::arg("--upstream", "fast") != "braid";
    let up = if fast {
        crate::fast_op::start(&up_dir, "broker").await?
    } else {
        let up_db = crate::scale::own_database(accounts, &up_dir).await?;
        crate::start_braid_with(&up_dir, None, &up_db, sessions, LIMITS_ON, &up_client).await
    };
    std::fs::write(
        down_dir.join("providers/up.toml"),
        format!("kind = \"oidc\"\nissuer = \"{up}\"\nclient_id = \"broker\"\nclient_secret = \"{SECRET}\"\ntrust_email = true\n"),
    )
    .map_err(|e| e.to_string())?;
    let down_db = crate::scale::own_database(accounts, &down_dir).await?;
    let server = Braid::start(
        &down_dir,
        "brokered",
        &crate::compare::braid_toml(&down_dir, port, &down_db, sessions, alg),
        port,
    )?;
    for u in 0..USERS {
        crate::scale::brokered_via(http, &down, &up, &format!("known{u}"), fast)
            .await
            .map_err(|e| format!("setup: {e}"))?;
    }
    let start = Instant::now();
    let (measure_at, end) = (start + Duration::from_secs(1), start + Duration::from_secs(1 + secs));
    let (next, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (h, d, u, next, errors) = (http.clone(), down.clone(), up.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let user = format!("known{}", next.fetch_add(1, Ordering::Relaxed) % USERS);
                if let Err(e) = crate::scale::brokered_via(&h, &d, &u, &user, fast).await {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("brokered sign-in: {e}");
                    }
                    continue;
                }
                if t >= measure_at {
                    samples.push(t.elapsed());
                }
            }
            samples
        }));
    }
    tokio::time::sleep_until(measure_at.into()).await;
    let before = pinned::Ticks::now(&[server.pid()]);
    tokio::time::sleep_until(end.into()).await;
    let window = before.window();
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap_or_default());
    }
    samples.sort_unstable();
    let n = samples.len();
    if n == 0 {
        return Err(format!("no sign-in completed ({} errors)", errors.load(Ordering::Relaxed)));
    }
    let pct = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)];
    let rate = n as f64 / window.wall.as_secs_f64();
    let server_cpu = window.share;
    let driver_busy = window.busy(pinned::DRIVER_CORE);
    println!(
        "{:<28} {rate:>7.0} ops/s  p50 {:>8.2?}  p99 {:>8.2?}  braid {:>3.0} % of core 0 ({:>6.0} ops/s per core)  \
         core 1 (driver and upstream) {:>3.0} % busy  errors {}",
        format!("brokered sign-in {alg}"),
        pct(0.5),
        pct(0.99),
        server_cpu * 100.0,
        rate / server_cpu.max(0.01),
        driver_busy * 100.0,
        errors.load(Ordering::Relaxed)
    );
    if driver_busy > 0.95 && server_cpu < 0.9 {
        println!(
            "{:<28} the driver's core (driver and upstream) was saturated, not braid's: a floor",
            format!("brokered sign-in {alg}")
        );
    }
    Ok(())
}

/// The pinned brokered scenario, RS256 then ES256 (skipped with a reason when two cores or
/// `taskset` are missing).
pub async fn run(http: &reqwest::Client, dir: &Path, accounts: &str, sessions: &str, c: usize) {
    let secs: u64 = crate::arg("--secs", "5").parse().unwrap_or(5);
    if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
        println!("{:<28} skipped: needs two cores", "brokered (pinned)");
        return;
    }
    if let Err(e) = crate::compare::pin_self() {
        println!("{:<28} skipped: {e}", "brokered (pinned)");
        return;
    }
    println!(
        "brokered (pinned): braid alone on core {}, this driver and the upstream ({}) on core {}; {c} concurrent sign-ins of known users, 1 s warm-up, {secs} s measured; accounts {}, sessions {sessions}",
        pinned::SERVER_CORE,
        if crate::arg("--upstream", "fast") == "braid" { "a second braid" } else { "the fast local provider" },
        pinned::DRIVER_CORE,
        if accounts.is_empty() { "SQLite" } else { accounts }
    );
    for alg in ["RS256", "ES256"] {
        if let Err(e) = run_alg(http, dir, accounts, sessions, alg, c, secs).await {
            println!("{:<28} skipped: {e}", format!("brokered sign-in {alg}"));
        }
    }
}
