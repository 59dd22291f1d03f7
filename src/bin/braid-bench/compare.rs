//! `--compare`: refresh with rotation, braid beside node oidc-provider in the same run and the
//! same conditions — each server alone on core 0, this process (the load driver) on core 1 —
//! for RS256 and ES256 (ID token and JWT access token signed with the algorithm); prints
//! throughput, latency, each server's CPU share, the driver core's use, and braid's ratio.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CB, CLIENT, Figures, LIMITS_ON, SECRET, arg, sign_in};
use crate::pinned::{self, Braid};

/// What one server did under the driver.
struct Run {
    figures: Figures,
    errors: usize,
    /// Share of one core the server's process used.
    server_cpu: f64,
    /// How busy the server's core was (the server and anything else on the machine).
    server_core: f64,
    /// Share of the server's core that niced processes (other builds on a shared machine) used.
    server_core_niced: f64,
    /// How busy the driver's core was.
    driver_core: f64,
    /// Share of one core this process (the driver) used.
    driver_cpu: f64,
}

impl Run {
    fn per_core(&self) -> f64 {
        self.figures.rate() / self.server_cpu.max(0.01)
    }

    fn print(&self, name: &str) {
        println!(
            "{name:<30} {:>7.0} ops/s  p50 {:>8.2?}  p99 {:>8.2?}  server {:>4.0} % of a core ({:>6.0} ops/s per core)  \
             core {} {:>3.0} % busy  driver {:>3.0} % of core {} ({:>3.0} % busy){}",
            self.figures.rate(),
            self.figures.percentile(0.5),
            self.figures.percentile(0.99),
            self.server_cpu * 100.0,
            self.per_core(),
            pinned::SERVER_CORE,
            self.server_core * 100.0,
            self.driver_cpu * 100.0,
            pinned::DRIVER_CORE,
            self.driver_core * 100.0,
            if self.errors > 0 { format!("  {} errors", self.errors) } else { String::new() }
        );
        let note = |s: &str| println!("{:<30} {s}", "");
        if self.server_cpu < 0.9 && self.driver_core > 0.95 && self.driver_cpu > 0.8 {
            note("the driver was saturated, not the server: the figure is a floor");
        } else if self.server_cpu < 0.9 && self.driver_core > 0.95 {
            note("the driver's core was busy with other work (the driver itself was not): the figure is a floor");
        }
        if self.server_core - self.server_cpu > 0.1 {
            note(&format!(
                "{:.0} % of the server's core went to other processes or interrupts ({:.0} % to niced ones): \
                 ops/s per core is the fairer figure",
                (self.server_core - self.server_cpu) * 100.0,
                self.server_core_niced * 100.0
            ));
        }
    }
}

/// node oidc-provider running `bench/oidc-provider/refresh.mjs`, pinned to the server core.
struct OidcProvider {
    child: Child,
    base: String,
    tokens: Vec<String>,
}

impl OidcProvider {
    fn start(script: &Path, alg: &str, grants: usize) -> Result<Self, String> {
        let port = pinned::free_port()?;
        let mut child = pinned::pinned(pinned::SERVER_CORE, Path::new("node"))
            .arg(script)
            .arg(port.to_string())
            .arg(alg)
            .arg(grants.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("taskset node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout from node")?;
        let line = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with('{'))
            .ok_or("oidc-provider printed no refresh tokens")?;
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        let tokens: Vec<String> = v["refresh_tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        pinned::wait_for(port, &mut child, "oidc-provider")?;
        Ok(Self { child, base: format!("http://127.0.0.1:{port}"), tokens })
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pin every thread of this process to the driver's core.
pub(crate) fn pin_self() -> Result<(), String> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-cp", pinned::DRIVER_CORE, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// One rotation of `token` at `base`; the new refresh token.
async fn rotate(http: &reqwest::Client, base: &str, token: &str) -> Result<String, String> {
    let r = http
        .post(format!("{base}/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if v["id_token"].as_str().is_none() || v["access_token"].as_str().is_none() {
        return Err(format!("no tokens: {v}"));
    }
    v["refresh_token"].as_str().map(str::to_owned).ok_or_else(|| format!("refresh failed: {v}"))
}

/// Each of `tokens` rotated in a loop by its own worker: `warm` unmeasured, then `secs`
/// measured, with the CPU ticks of `pid` and of the driver's core around the measured part. The
/// run, and the refresh tokens still live at its end (one per worker that did not fail).
async fn drive(
    http: &reqwest::Client,
    base: &str,
    tokens: Vec<String>,
    warm: Duration,
    secs: u64,
    pid: u32,
) -> (Run, Vec<String>) {
    let start = Instant::now();
    let (measure_at, end) = (start + warm, start + warm + Duration::from_secs(secs));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for token in tokens {
        let (h, b, errors) = (http.clone(), base.to_owned(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let (mut token, mut samples) = (Some(token), Vec::new());
            while let Some(current) = token.take() {
                let t = Instant::now();
                if t >= end {
                    token = Some(current);
                    break;
                }
                match rotate(&h, &b, &current).await {
                    Ok(next) => token = Some(next),
                    Err(e) => {
                        // The token is spent or lost: this worker stops.
                        if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                            eprintln!("refresh at {b}: {e}");
                        }
                        break;
                    }
                }
                if t >= measure_at {
                    samples.push(t.elapsed());
                }
            }
            (samples, token)
        }));
    }
    tokio::time::sleep_until(measure_at.into()).await;
    let (server, driver) = (pinned::Ticks::now(&[pid]), pinned::Ticks::now(&[std::process::id()]));
    let niced0 = niced_ticks(pinned::SERVER_CORE);
    tokio::time::sleep_until(end.into()).await;
    let (server, driver) = (server.window(), driver.window());
    let niced1 = niced_ticks(pinned::SERVER_CORE);
    let (mut samples, mut live) = (Vec::new(), Vec::new());
    for t in tasks {
        let (s, token) = t.await.unwrap_or_default();
        samples.extend(s);
        live.extend(token);
    }
    let run = Run {
        figures: Figures { name: String::new(), samples, wall: server.wall },
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        server_cpu: server.share,
        server_core: server.busy(pinned::SERVER_CORE),
        server_core_niced: match (niced0, niced1) {
            (Some((n0, t0)), Some((n1, t1))) if t1 > t0 => n1.saturating_sub(n0) as f64 / (t1 - t0) as f64,
            _ => 0.0,
        },
        driver_core: server.busy(pinned::DRIVER_CORE),
        driver_cpu: driver.share,
    };
    (run, live)
}

/// (nice, total) ticks of `core` (`/proc/stat`): time spent in processes run at a lower priority.
fn niced_ticks(core: &str) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.strip_prefix("cpu").and_then(|r| r.split_whitespace().next()) == Some(core))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    Some((*v.get(1)?, v.iter().sum()))
}

/// The measured braid's configuration (the compare and the brokered runs): `accounts`, `sessions`,
/// the dev provider, and the bench client signing with `alg`.
pub(crate) fn braid_toml(dir: &Path, port: u16, accounts: &str, sessions: &str, alg: &str) -> String {
    // `--sqlite-sync normal` as for the other scenarios (`[store] sqlite_synchronous`).
    let sync = super::arg("--sqlite-sync", "full");
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\naccounts = \"{accounts}\"\nsessions = \"{sessions}\"\nsqlite_synchronous = \"{sync}\"\n[keys]\ndir = \"{}\"\n\
         [providers]\ndir = \"{}\"\n[log]\nlevel = \"error\"\n{LIMITS_ON}[[clients]]\nid = \"{CLIENT}\"\nsecret = \"{SECRET}\"\n\
         redirect_uris = [\"{CB}\"]\nid_token_signed_response_alg = \"{alg}\"\naccess_token_signed_response_alg = \"{alg}\"\n",
        dir.join("keys").display(),
        dir.join("providers").display()
    )
}

/// braid pinned, with `c` grants made by full sign-ins; its measured run. With `grants`, a run
/// first (printed), then `grants` more grants filled in, then the run returned.
async fn braid_run(
    http: &reqwest::Client,
    dir: &Path,
    accounts: &str,
    alg: &str,
    c: usize,
    secs: u64,
    grants: usize,
) -> Result<Run, String> {
    // The directory names the PostgreSQL database made beside `accounts`: letters, digits, `_`.
    let own = dir.join(format!("compare_{}", alg.to_lowercase()));
    std::fs::create_dir_all(own.join("providers")).map_err(|e| e.to_string())?;
    std::fs::write(own.join("providers/dev.toml"), "kind = \"dev\"\n").map_err(|e| e.to_string())?;
    let url = crate::scale::own_database(accounts, &own).await?;
    let port = pinned::free_port()?;
    let server = Braid::start(&own, "compare", &braid_toml(&own, port, &url, "memory", alg), port)?;
    let mut tokens = Vec::new();
    for w in 0..c {
        let t = sign_in(http, &server.base, &format!("refresher{w}")).await?;
        tokens.push(t["refresh_token"].as_str().ok_or_else(|| format!("no refresh token: {t}"))?.to_owned());
    }
    let (run, tokens) = drive(http, &server.base, tokens, Duration::from_secs(1), secs, server.pid()).await;
    if grants == 0 {
        return Ok(run);
    }
    run.print(&format!("braid refresh {alg} @ 0"));
    let started = Instant::now();
    crate::scale::fill(&url, grants).await?;
    println!("{:<30} {grants} grants and refresh tokens in {:.1?} (one transaction)", "bulk fill", started.elapsed());
    // The database's own work on the new rows (checkpoint, autovacuum) settles in a first run.
    let (_, tokens) = drive(http, &server.base, tokens, Duration::from_secs(1), secs, server.pid()).await;
    let (run, _) = drive(http, &server.base, tokens, Duration::from_secs(1), secs, server.pid()).await;
    Ok(run)
}

/// oidc-provider pinned, with `c` grants minted by the script; its measured run.
async fn oidc_provider_run(
    http: &reqwest::Client,
    script: &Path,
    alg: &str,
    c: usize,
    secs: u64,
) -> Result<Run, String> {
    let op = OidcProvider::start(script, alg, c)?;
    if op.tokens.len() != c {
        return Err(format!("oidc-provider minted {} refresh tokens, not {c}", op.tokens.len()));
    }
    Ok(drive(http, &op.base, op.tokens.clone(), Duration::from_secs(1), secs, op.child.id()).await.0)
}

/// The compare phase (skipped with a reason when two cores, `taskset` or node are missing).
pub async fn run(http: &reqwest::Client, dir: &Path) {
    let secs: u64 = arg("--secs", "5").parse().unwrap_or(5);
    let c: usize = arg("--concurrency", "32").parse().unwrap_or(32);
    let accounts = arg("--accounts", "");
    let grants: usize = arg("--grants", "0").parse().unwrap_or(0);
    let script = Path::new(&arg("--oidc-provider-dir", "bench/oidc-provider")).join("refresh.mjs");
    if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
        println!("{:<30} skipped: needs two cores (server and driver pinned apart)", "compare");
        return;
    }
    if let Err(e) = pin_self() {
        println!("{:<30} skipped: cannot pin the driver: {e}", "compare");
        return;
    }
    let store = if accounts.starts_with("postgres") {
        "PostgreSQL (its server runs unpinned, its CPU not counted)"
    } else {
        "SQLite"
    };
    println!(
        "compare: refresh with rotation (new refresh token, ID token and JWT access token each time); each server alone \
         on core {}, this driver on core {}; {c} workers each rotating its own grant, 1 s warm-up then {secs} s measured; \
         braid: {store} accounts, memory sessions; oidc-provider {}: its in-memory adapter",
        pinned::SERVER_CORE,
        pinned::DRIVER_CORE,
        oidc_provider_version(&script).unwrap_or_else(|| "?".into())
    );
    // `--part refresh` or `--part brokered` runs one half.
    let part = arg("--part", "all");
    let mut ratios = Vec::new();
    for alg in ["RS256", "ES256"].into_iter().filter(|_| part != "brokered") {
        let b = match braid_run(http, dir, &accounts, alg, c, secs, grants).await {
            Ok(r) => {
                let at = if grants > 0 { format!(" @ {grants}") } else { String::new() };
                r.print(&format!("braid refresh {alg}{at}"));
                Some(r)
            }
            Err(e) => {
                println!("{:<30} failed: {e}", format!("braid refresh {alg}"));
                None
            }
        };
        let o = match oidc_provider_run(http, &script, alg, c, secs).await {
            Ok(r) => {
                r.print(&format!("oidc-provider refresh {alg}"));
                Some(r)
            }
            Err(e) => {
                println!(
                    "{:<30} skipped: {e} (scripts/bench --compare installs it)",
                    format!("oidc-provider refresh {alg}")
                );
                None
            }
        };
        if let (Some(b), Some(o)) = (b, o) {
            ratios.push((
                alg,
                b.figures.rate() / o.figures.rate().max(f64::MIN_POSITIVE),
                b.per_core() / o.per_core().max(0.01),
            ));
        }
    }
    for (alg, rate, per_core) in ratios {
        println!(
            "{:<30} {rate:>7.2} × ops/s, {per_core:.2} × ops/s per server core (target ≥ 1.5 ×)",
            format!("braid / oidc-provider {alg}")
        );
    }
    if part != "refresh" {
        brokered_beside_satosa(http, dir, &accounts, secs).await;
    }
}

/// Brokered sign-ins of known users, braid beside SATOSA, each alone on core 0 with the same
/// fast local upstream in the driver; RS256 (SATOSA's frontend signs with RSA only).
async fn brokered_beside_satosa(http: &reqwest::Client, dir: &Path, accounts: &str, secs: u64) {
    let c: usize = arg("--brokered-concurrency", "8").parse().unwrap_or(8);
    println!(
        "compare: brokered sign-in of known users (the application's authorize, the upstream's, the callback with \
         its code exchange and ID token check, the code redeemed for an RS256 ID token); {c} concurrent, the fast \
         local provider as upstream on core {}; braid: {} accounts, memory sessions; SATOSA {} under gunicorn \
         (one worker, 8 threads)",
        pinned::DRIVER_CORE,
        if accounts.is_empty() { "SQLite" } else { "PostgreSQL" },
        crate::satosa::version().unwrap_or_else(|| "?".into())
    );
    let b = crate::brokered::run_alg(http, dir, accounts, "memory", "RS256", c, secs).await;
    if let Err(e) = &b {
        println!("{:<28} failed: {e}", "brokered sign-in RS256");
    }
    let s = crate::satosa::run(http, dir, c, secs).await;
    if let Err(e) = &s {
        println!("{:<28} skipped: {e} (scripts/bench --compare installs it)", "SATOSA brokered RS256");
    }
    if let (Ok(b), Ok(s)) = (b, s) {
        println!(
            "{:<30} {:>7.2} × ops/s, {:.2} × ops/s per server core",
            "braid / SATOSA brokered RS256",
            b.rate / s.rate.max(f64::MIN_POSITIVE),
            b.per_core() / s.per_core().max(0.01)
        );
    }
}

/// The oidc-provider version installed beside `script`.
fn oidc_provider_version(script: &Path) -> Option<String> {
    let p = script.parent()?.join("node_modules/oidc-provider/package.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["version"].as_str().map(str::to_owned)
}
