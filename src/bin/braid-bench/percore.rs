//! The per-core phases: `/auth/verify` with a live session (memory and Redis sessions),
//! `/auth/verify` and `/healthz` with metrics on and off (`[metrics] enabled = false`), and
//! braid's reverse proxy beside nginx's `proxy_pass` to the same upstream, each server alone on
//! one pinned core with `wrk` on the other.

use std::path::Path;

use crate::pinned::{self, Braid, Nginx};

/// The page the bench upstream serves.
const PAGE: &str = "<!doctype html><title>bench</title><p>A page of the application behind the proxy.</p>";

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
}

/// The session stores to measure: memory, and Redis when one answers (the `--sessions` URL,
/// else the local default on database 2).
fn stores(sessions: &str) -> Vec<String> {
    let mut v = vec!["memory".to_owned()];
    if sessions.starts_with("redis") {
        v.push(sessions.to_owned());
    } else if std::net::TcpStream::connect(("127.0.0.1", 6379)).is_ok() {
        v.push("redis://127.0.0.1:6379/2".to_owned());
    }
    v
}

fn braid_toml(dir: &Path, name: &str, port: u16, sessions: &str, upstream: u16) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\naccounts = \"sqlite://{}\"\nsessions = \"{sessions}\"\n\
         [keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n[log]\nlevel = \"error\"\n\
         [[routes]]\nhost = \"app.bench\"\n[[routes]]\nhost = \"proxied.bench\"\nupstream = \"http://127.0.0.1:{upstream}\"\n\
         [[routes]]\nhost = \"public.bench\"\nupstream = \"http://127.0.0.1:{upstream}\"\npublic_paths = [\"/\"]\n",
        dir.join(format!("{name}.db")).display(),
        dir.join("keys").display(),
        dir.join("providers").display()
    )
}

/// Run the per-core phases (skipped with a reason when `taskset`, `wrk` or two cores are missing).
pub async fn run(http: &reqwest::Client, dir: &Path, sessions: &str) {
    let secs: u32 = arg("--secs", "5").parse().unwrap_or(5);
    let conns: u32 = arg("--connections", "16").parse().unwrap_or(16);
    if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
        println!("{:<28} skipped: needs two cores (server and driver pinned apart)", "per-core phases");
        return;
    }
    println!(
        "per core: the server alone on core {}, wrk ({conns} connections, {secs} s) on core {}",
        pinned::SERVER_CORE,
        pinned::DRIVER_CORE
    );
    let upstream = match Nginx::start("upstream", pinned::DRIVER_CORE, |port| {
        format!(
            " server {{\n  listen 127.0.0.1:{port};\n  location / {{\n   default_type text/html;\n   return 200 '{PAGE}';\n  }}\n }}"
        )
    }) {
        Ok(n) => n,
        Err(e) => {
            println!("{:<28} skipped: {e}", "per-core phases");
            return;
        }
    };
    // `--part proxy`: only `/auth/verify` (memory) and the proxy beside nginx.
    let proxy_only = arg("--part", "") == "proxy";
    let stores = if proxy_only { vec!["memory".to_owned()] } else { stores(sessions) };
    for store in stores {
        let label = if store == "memory" { "memory" } else { "redis" };
        let server = match pinned::free_port().and_then(|port| {
            Braid::start(dir, &format!("pinned-{label}"), &braid_toml(dir, label, port, &store, upstream.port), port)
        }) {
            Ok(s) => s,
            Err(e) => {
                println!("{:<28} skipped: {e}", format!("/auth/verify ({label})"));
                continue;
            }
        };
        let cookie = match crate::session_cookie(http, &server.base, &format!("pinned-{label}")).await {
            Ok(c) => c,
            Err(e) => {
                println!("{:<28} skipped: sign-in failed: {e}", format!("/auth/verify ({label})"));
                continue;
            }
        };
        let verify = pinned::wrk(
            &format!("{}/auth/verify", server.base),
            &[
                ("Cookie", &cookie),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "app.bench"),
                ("X-Forwarded-Uri", "/page"),
            ],
            conns,
            secs,
            &[server.pid()],
        );
        match verify {
            Ok(l) => l.print(&format!("/auth/verify ({label})")),
            Err(e) => println!("{:<28} failed: {e}", format!("/auth/verify ({label})")),
        }
        if label == "memory" {
            proxy_vs_nginx(&server, &cookie, upstream.port, conns, secs);
        }
    }
    if !proxy_only {
        metrics_overhead(http, dir, upstream.port, conns, secs).await;
    }
}

/// braid's proxy (session checked on every request) and nginx's `proxy_pass` to the same
/// upstream, each alone on the server core. The VM's speed drifts within seconds, so every
/// braid run sits between two nginx runs (N S N P N B N S N …) and is measured against their
/// mean, which cancels a steady drift; prints each run and the median ratios over the rounds.
/// Each round also proxies a public route (no session, no policy, no identity headers): what
/// braid's proxying costs without its decision; and the bench's bare hyper proxy (`bare`): what
/// a proxy on hyper reaches at all.
fn proxy_vs_nginx(braid: &Braid, cookie: &str, upstream: u16, conns: u32, secs: u32) {
    const ROUNDS: usize = 7;
    let nginx = match Nginx::start("proxy", pinned::SERVER_CORE, |port| {
        format!(
            " upstream app {{ server 127.0.0.1:{upstream}; keepalive 32; }}\n server {{\n  listen 127.0.0.1:{port};\n  \
             location / {{\n   proxy_http_version 1.1;\n   proxy_set_header Connection \"\";\n   proxy_pass http://app;\n  }}\n }}"
        )
    }) {
        Ok(n) => n,
        Err(e) => {
            println!("{:<28} skipped: {e}", "nginx proxy_pass");
            return;
        }
    };
    let bare = match BareProxy::start(upstream) {
        Ok(b) => Some(b),
        Err(e) => {
            println!("{:<28} skipped: {e}", "bare hyper proxy");
            None
        }
    };
    let braid_url = format!("{}/page", braid.base);
    let braid_headers = [("Host", "proxied.bench"), ("Cookie", cookie), ("Accept", "text/html")];
    let public_headers = [("Host", "public.bench"), ("Accept", "text/html")];
    let nginx_url = format!("http://127.0.0.1:{}/page", nginx.port);
    let run = |kind: Kind| {
        let (label, load) = match kind {
            Kind::Session => {
                ("braid proxy (session)", pinned::wrk(&braid_url, &braid_headers, conns, secs, &[braid.pid()]))
            }
            Kind::Public => {
                ("braid proxy (public path)", pinned::wrk(&braid_url, &public_headers, conns, secs, &[braid.pid()]))
            }
            Kind::Nginx => {
                ("nginx proxy_pass", pinned::wrk(&nginx_url, &[("Accept", "text/html")], conns, secs, &nginx.pids()))
            }
            Kind::Bare => match &bare {
                Some(b) => {
                    ("bare hyper proxy", pinned::wrk(&b.url, &[("Accept", "text/html")], conns, secs, &[b.pid()]))
                }
                None => return None,
            },
        };
        match load {
            Ok(l) => {
                l.print(label);
                Some(l)
            }
            Err(e) => {
                println!("{label:<28} failed: {e}");
                None
            }
        }
    };
    let (mut ratios, mut per_core, mut public, mut bare_ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let per_core_of = |l: &pinned::Load| l.rps / l.server_cpu.max(0.01);
    // nginx's runs so far; each braid run is judged against the one before it and the next.
    let mut before = run(Kind::Nginx);
    for _ in 0..ROUNDS {
        for kind in [Kind::Session, Kind::Public, Kind::Bare] {
            let measured = run(kind);
            let after = run(Kind::Nginx);
            let (Some(l), Some(a), Some(b)) = (measured, &before, &after) else {
                before = after;
                continue;
            };
            let n_rps = (a.rps + b.rps) / 2.0;
            let share = l.rps / n_rps.max(1.0) * 100.0;
            match kind {
                Kind::Session => {
                    ratios.push(share);
                    per_core.push(per_core_of(&l) / ((per_core_of(a) + per_core_of(b)) / 2.0).max(1.0) * 100.0);
                }
                Kind::Public => public.push(share),
                Kind::Bare => bare_ratios.push(share),
                Kind::Nginx => {}
            }
            before = after;
        }
    }
    for v in [&mut ratios, &mut per_core, &mut public, &mut bare_ratios] {
        v.sort_by(f64::total_cmp);
    }
    let spread =
        |v: &[f64]| format!("{:.0}–{:.0} %", v.first().copied().unwrap_or(0.0), v.last().copied().unwrap_or(0.0));
    if let (Some(r), Some(c)) = (ratios.get(ratios.len() / 2), per_core.get(per_core.len() / 2)) {
        println!(
            "{:<28} {r:>9.0} % of nginx's throughput (median of {} runs, each against the nginx runs around it, {}); per core {c:.0} % ({})",
            "braid proxy vs nginx",
            ratios.len(),
            spread(&ratios),
            spread(&per_core)
        );
    }
    for (label, v, what) in [
        ("braid public path vs nginx", &public, "braid's proxying without its decision"),
        ("bare hyper proxy vs nginx", &bare_ratios, "hyper alone, nothing of braid's"),
    ] {
        if let Some(m) = v.get(v.len() / 2) {
            println!("{label:<28} {m:>9.0} % of nginx's throughput (median, {}): {what}", spread(v));
        }
    }
}

/// The bench's bare hyper proxy ([`crate::bare`]) in a process of its own, pinned to the server
/// core.
struct BareProxy {
    child: std::process::Child,
    url: String,
}

impl BareProxy {
    fn start(upstream: u16) -> Result<Self, String> {
        let port = pinned::free_port()?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = pinned::pinned(pinned::SERVER_CORE, &exe)
            .args(["--bare-proxy", &port.to_string(), &upstream.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("taskset braid-bench --bare-proxy: {e}"))?;
        pinned::wait_for(port, &mut child, "the bare proxy")?;
        Ok(Self { child, url: format!("http://127.0.0.1:{port}/page") })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BareProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a run of [`proxy_vs_nginx`] measures.
#[derive(Clone, Copy)]
enum Kind {
    /// braid's proxy, the session checked.
    Session,
    /// braid's proxy on a public route.
    Public,
    /// nginx's `proxy_pass`.
    Nginx,
    /// The bench's bare hyper proxy.
    Bare,
}

/// `/auth/verify` (memory sessions) and `/healthz`, each with metrics on and off, in five
/// rounds (a braid of each kind per round, which goes first alternating); prints each figure and the throughput
/// metrics cost from the median of the rounds, since one 5 s run swings by several percent.
async fn metrics_overhead(http: &reqwest::Client, dir: &Path, upstream: u16, conns: u32, secs: u32) {
    const ROUNDS: usize = 5;
    let layer_ns = layer_cost_ns().await;
    let mut rps: Vec<(&str, &str, f64)> = Vec::new();
    for round in 0..ROUNDS {
        let (on, off) = (("on", ""), ("off", "[metrics]\nenabled = false\n"));
        // Alternate which goes first, so that neither gains from its place in the run.
        let order = if round % 2 == 0 { [on, off] } else { [off, on] };
        for (toggle, extra) in order {
            let name = format!("metrics-{toggle}-{round}");
            let server = match pinned::free_port().and_then(|port| {
                let toml = format!("{}{extra}", braid_toml(dir, &name, port, "memory", upstream));
                Braid::start(dir, &name, &toml, port)
            }) {
                Ok(s) => s,
                Err(e) => {
                    println!("{:<28} skipped: {e}", format!("metrics {toggle}"));
                    return;
                }
            };
            let cookie = match crate::session_cookie(http, &server.base, &name).await {
                Ok(c) => c,
                Err(e) => {
                    println!("{:<28} skipped: sign-in failed: {e}", format!("metrics {toggle}"));
                    return;
                }
            };
            let verify_headers = [
                ("Cookie", cookie.as_str()),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "app.bench"),
                ("X-Forwarded-Uri", "/page"),
            ];
            for (path, headers) in [("/auth/verify", &verify_headers[..]), ("/healthz", &[][..])] {
                let label = format!("{path} (metrics {toggle})");
                match pinned::wrk(&format!("{}{path}", server.base), headers, conns, secs, &[server.pid()]) {
                    Ok(l) => {
                        l.print(&label);
                        rps.push((path, toggle, l.rps));
                    }
                    Err(e) => println!("{label:<28} failed: {e}"),
                }
            }
        }
    }
    for path in ["/auth/verify", "/healthz"] {
        let median = |t: &str| {
            let mut v: Vec<f64> = rps.iter().filter(|(p, tg, _)| *p == path && *tg == t).map(|(_, _, r)| *r).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        if let (Some(on), Some(off)) = (median("on"), median("off")) {
            let cost = (off - on) / off.max(1.0) * 100.0;
            println!(
                "{:<28} {cost:>9.1} % fewer requests/s with metrics on (medians of {ROUNDS} rounds: {on:.0} vs {off:.0})",
                format!("metrics cost {path}")
            );
            if let Some(ns) = layer_ns {
                let share = ns / (1e9 / off.max(1.0)) * 100.0;
                println!(
                    "{:<28} {share:>9.1} % of a request's time at {off:.0}/s (timing adds {ns:.0} ns)",
                    format!("metrics layer {path}")
                );
            }
        }
    }
}

/// The time braid's metrics layer adds to one request, in nanoseconds, measured in this process
/// with the real recorder installed: a router of one route behind the timing layer (which braid
/// applies with its other edge layers, as one), called directly (no sockets, no task), with
/// timing on and off, in alternating batches; the difference of the fastest batch of each.
/// Throughput on a pinned core swings by ±10 % between 5 s runs, so this is the steadier figure.
async fn layer_cost_ns() -> Option<f64> {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower_service::Service;

    braid::metrics::install().ok()?;
    let route = || axum::Router::new().route("/auth/verify", axum::routing::get(|| async { StatusCode::OK }));
    let plain: axum::Router = route().layer(braid::metrics::http::TimeLayer::new(false));
    let timed: axum::Router = route().layer(braid::metrics::http::TimeLayer::new(true));
    const BATCH: u32 = 200_000;
    async fn batch(router: &axum::Router) -> Option<f64> {
        let mut svc = router.clone();
        let start = std::time::Instant::now();
        for _ in 0..BATCH {
            let request = Request::get("/auth/verify").body(Body::empty()).ok()?;
            let response = svc.call(request).await.ok()?;
            if response.status() != StatusCode::OK {
                return None;
            }
        }
        Some(start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH))
    }
    let (mut best_plain, mut best_timed) = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        best_plain = best_plain.min(batch(&plain).await?);
        best_timed = best_timed.min(batch(&timed).await?);
    }
    println!("{:<28} {best_timed:>9.0} ns per call timed, {best_plain:.0} ns untimed", "metrics layer (in process)");
    Some(best_timed - best_plain)
}
