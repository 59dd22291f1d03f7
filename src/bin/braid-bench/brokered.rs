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

/// One algorithm's run: prints its figures line and returns them, or says why it was skipped.
pub async fn run_alg(
    http: &reqwest::Client,
    dir: &Path,
    accounts: &str,
    sessions: &str,
    alg: &str,
    c: usize,
    secs: u64,
) -> Result<Measured, String> {
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
    let up = Arc::new(up);
    let (d, h) = (Arc::new(down), http.clone());
    let m = measure(c, secs, &[server.pid()], move |user| {
        let (h, d, u) = (h.clone(), d.clone(), up.clone());
        async move { crate::scale::brokered_via(&h, &d, &u, &user, fast).await }
    })
    .await?;
    m.print(&format!("brokered sign-in {alg}"), "braid", "core 0", "core 1 (driver and upstream)");
    Ok(m)
}

/// What a measured brokered run gave.
pub struct Measured {
    /// Sign-ins per second.
    pub rate: f64,
    p50: Duration,
    p99: Duration,
    /// Share of one core the measured server's processes used.
    pub share: f64,
    driver_busy: f64,
    errors: usize,
}

impl Measured {
    /// Sign-ins per second of the server's CPU time.
    pub fn per_core(&self) -> f64 {
        self.rate / self.share.max(0.01)
    }

    /// One line of figures for `name`; `server` names the measured processes.
    pub fn print(&self, name: &str, server: &str, server_core: &str, driver: &str) {
        println!(
            "{name:<28} {:>7.0} ops/s  p50 {:>8.2?}  p99 {:>8.2?}  {server} {:>3.0} % of {server_core} ({:>6.0} ops/s per core)  \
             {driver} {:>3.0} % busy  errors {}",
            self.rate,
            self.p50,
            self.p99,
            self.share * 100.0,
            self.per_core(),
            self.driver_busy * 100.0,
            self.errors
        );
        if self.driver_busy > 0.95 && self.share < 0.9 {
            println!("{name:<28} the driver's core (driver and upstream) was saturated, not the server's: a floor");
        }
    }
}

/// Run `one` (a whole sign-in of the user it is given) from `c` workers for 1 s of warm-up and
/// `secs` measured, with the CPU of the processes `pids` measured over the same window.
pub async fn measure<F, Fut>(c: usize, secs: u64, pids: &[u32], one: F) -> Result<Measured, String>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let start = Instant::now();
    let (measure_at, end) = (start + Duration::from_secs(1), start + Duration::from_secs(1 + secs));
    let (next, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (one, next, errors) = (one.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let user = format!("known{}", next.fetch_add(1, Ordering::Relaxed) % USERS);
                if let Err(e) = one(user).await {
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
    let before = pinned::Ticks::now(pids);
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
    Ok(Measured {
        rate: n as f64 / window.wall.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        share: window.share,
        driver_busy: window.busy(pinned::DRIVER_CORE),
        errors: errors.load(Ordering::Relaxed),
    })
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
