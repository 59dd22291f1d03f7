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
         [[routes]]\nhost = \"app.bench\"\n[[routes]]\nhost = \"proxied.bench\"\nupstream = \"http://127.0.0.1:{upstream}\"\n",
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
    let mut braid_proxy = None;
    for store in stores(sessions) {
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
            let proxy = pinned::wrk(
                &format!("{}/page", server.base),
                &[("Host", "proxied.bench"), ("Cookie", &cookie), ("Accept", "text/html")],
                conns,
                secs,
                &[server.pid()],
            );
            match proxy {
                Ok(l) => {
                    l.print("braid proxy (session)");
                    braid_proxy = Some(l.rps);
                }
                Err(e) => println!("{:<28} failed: {e}", "braid proxy (session)"),
            }
        }
    }
    metrics_overhead(http, dir, upstream.port, conns, secs).await;
    let nginx = Nginx::start("proxy", pinned::SERVER_CORE, |port| {
        format!(
            " upstream app {{ server 127.0.0.1:{}; keepalive 32; }}\n server {{\n  listen 127.0.0.1:{port};\n  \
             location / {{\n   proxy_http_version 1.1;\n   proxy_set_header Connection \"\";\n   proxy_pass http://app;\n  }}\n }}",
            upstream.port
        )
    });
    match nginx.and_then(|n| {
        pinned::wrk(&format!("http://127.0.0.1:{}/page", n.port), &[("Accept", "text/html")], conns, secs, &n.pids())
    }) {
        Ok(l) => {
            l.print("nginx proxy_pass");
            if let Some(b) = braid_proxy {
                println!("{:<28} {:>9.0} % of nginx's throughput", "braid proxy vs nginx", b / l.rps.max(1.0) * 100.0);
            }
        }
        Err(e) => println!("{:<28} skipped: {e}", "nginx proxy_pass"),
    }
}

/// `/auth/verify` (memory sessions) and `/healthz`, each with metrics on and then off; prints
/// each figure and the throughput metrics cost.
async fn metrics_overhead(http: &reqwest::Client, dir: &Path, upstream: u16, conns: u32, secs: u32) {
    let mut rps: Vec<(&str, &str, f64)> = Vec::new();
    for (toggle, extra) in [("on", ""), ("off", "[metrics]\nenabled = false\n")] {
        let name = format!("metrics-{toggle}");
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
    for path in ["/auth/verify", "/healthz"] {
        let of = |t: &str| rps.iter().find(|(p, tg, _)| *p == path && *tg == t).map(|(_, _, r)| *r);
        if let (Some(on), Some(off)) = (of("on"), of("off")) {
            let cost = (off - on) / off.max(1.0) * 100.0;
            println!("{:<28} {cost:>9.1} % fewer requests/s with metrics on", format!("metrics cost {path}"));
        }
    }
}
