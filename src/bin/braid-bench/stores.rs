//! Session stores side by side (`--sessions-compare "URL URL…"`): for each session-store URL
//! (single Redis, Redis Cluster, Sentinel, memory) a braid of its own with its own SQLite
//! database, then the same sign-in and refresh phases against each, and the rate of each
//! relative to the first.

use std::path::Path;
use std::sync::Arc;

use super::{CLIENT, Figures, LIMITS_ON, SECRET, phase, sign_in, start_braid};

/// A grant's newest refresh token and access token, rotated by one worker at a time.
pub type Slot = Arc<tokio::sync::Mutex<(String, String)>>;

/// `total` refresh-token rotations, `concurrency` at a time, one grant per worker (made first by
/// full sign-ins); the figures and the grants' newest tokens.
pub async fn refresh_phase(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    total: usize,
    concurrency: usize,
) -> (Figures, Vec<Slot>) {
    let mut tokens = Vec::new();
    for w in 0..concurrency {
        match sign_in(http, base, &format!("refresher{w}")).await {
            Ok(t) => tokens.push(Arc::new(tokio::sync::Mutex::new((
                t["refresh_token"].as_str().unwrap_or_default().to_owned(),
                t["access_token"].as_str().unwrap_or_default().to_owned(),
            )))),
            Err(e) => {
                eprintln!("setup: {e}");
                std::process::exit(1);
            }
        }
    }
    let (h, b, tk) = (http.clone(), base.to_owned(), tokens.clone());
    let figures = phase(name, total, concurrency, move |i| {
        let (h, b, slot) = (h.clone(), b.clone(), tk[i % tk.len()].clone());
        async move {
            let mut s = slot.lock().await;
            let r = h
                .post(format!("{b}/token"))
                .basic_auth(CLIENT, Some(SECRET))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", s.0.as_str())])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            s.0 = v["refresh_token"].as_str().ok_or_else(|| format!("refresh failed: {v}"))?.to_owned();
            s.1 = v["access_token"].as_str().unwrap_or_default().to_owned();
            Ok(())
        }
    })
    .await;
    (figures, tokens)
}

/// The store's kind, for the figures' names.
fn kind(url: &str) -> &str {
    url.split("://").next().unwrap_or(url)
}

/// Sign-ins (new and known users) and refreshes against one braid per session-store URL.
pub async fn run(http: &reqwest::Client, dir: &Path, accounts: &str, urls: &[String], n: usize, c: usize) {
    let mut rates: Vec<(String, f64, f64, f64)> = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let own = dir.join(format!("store-{i}"));
        let _ = std::fs::create_dir_all(own.join("providers"));
        let _ = std::fs::write(own.join("providers/dev.toml"), "kind = \"dev\"\n");
        // Each braid its own SQLite file, so no store sees rows the one before it wrote.
        let accounts = if accounts.starts_with("sqlite:") {
            format!("sqlite://{}", own.join("bench.db").display())
        } else {
            accounts.to_owned()
        };
        let base = start_braid(&own, &accounts, url, LIMITS_ON).await;
        let k = kind(url).to_owned();
        let (h, b, tag) = (http.clone(), base.clone(), i);
        let mut fresh = phase(format!("sign-in new, {k}"), n, c, move |j| {
            let (h, b) = (h.clone(), b.clone());
            async move { sign_in(&h, &b, &format!("s{tag}-user{j}")).await.map(|_| ()) }
        })
        .await;
        fresh.print();
        let (h, b) = (http.clone(), base.clone());
        let mut known = phase(format!("sign-in known, {k}"), n, c, move |j| {
            let (h, b) = (h.clone(), b.clone());
            async move { sign_in(&h, &b, &format!("s{tag}-user{}", j % 50)).await.map(|_| ()) }
        })
        .await;
        known.print();
        let (mut refresh, _) = refresh_phase(http, &base, &format!("refresh, {k}"), n, c).await;
        refresh.print();
        rates.push((k, fresh.rate(), known.rate(), refresh.rate()));
    }
    if let Some((first, f0, k0, r0)) = rates.first().cloned() {
        for (k, f, kn, r) in rates.iter().skip(1) {
            println!(
                "{:<28} sign-in new {:>5.2}×, sign-in known {:>5.2}×, refresh {:>5.2}× of {first}",
                k,
                f / f0.max(f64::MIN_POSITIVE),
                kn / k0.max(f64::MIN_POSITIVE),
                r / r0.max(f64::MIN_POSITIVE)
            );
        }
    }
}
