//! `braid-bench`: figures for braid's hot paths, measured against a real braid on loopback with
//! real stores. Prints throughput and latency percentiles for full sign-ins (authorize → dev
//! provider → code → tokens), refresh-token rotation and userinfo (braid in this process), the
//! per-core phases (`percore`: forward-auth and braid's proxy beside nginx, each server alone on a
//! pinned core), signing cost per algorithm, the cost of verifying a signed SAML response, and
//! the process's peak memory. Run it through `scripts/bench` (release build).

use std::sync::Arc;
use std::time::{Duration, Instant};

use braid::config::{Settings, SigningAlg};

mod bare;
mod brokered;
mod compare;
mod fast_op;
mod limits;
mod percore;
mod pinned;
mod satosa;
mod scale;
mod stores;
mod upload;

const CLIENT: &str = "bench";
const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
const CB: &str = "http://127.0.0.1:9/cb";

struct Figures {
    name: String,
    samples: Vec<Duration>,
    wall: Duration,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64()
    }

    fn median(&self) -> Duration {
        self.percentile(0.5)
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort_unstable();
        s.get(((s.len() as f64 * p) as usize).min(s.len().saturating_sub(1))).copied().unwrap_or_default()
    }

    fn print(&mut self) {
        self.samples.sort_unstable();
        let n = self.samples.len().max(1);
        let pct = |p: f64| self.samples[((n as f64 * p) as usize).min(n - 1)];
        println!(
            "{:<28} {:>6} ops  {:>9.1} ops/s  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
            self.name,
            self.samples.len(),
            self.samples.len() as f64 / self.wall.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            self.samples.last().copied().unwrap_or_default()
        );
    }
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn location(resp: &reqwest::Response) -> Result<String, String> {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a redirect, got {}", resp.status()))
}

fn param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The bench client's authorization request for `scope`.
fn authorize_query(scope: &str) -> [(&'static str, &str); 6] {
    [
        ("client_id", CLIENT),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "s"),
        ("nonce", "n"),
    ]
}

/// Redeem the bench client's `code` at `token_endpoint`.
async fn redeem(http: &reqwest::Client, token_endpoint: &str, code: &str) -> Result<reqwest::Response, String> {
    http.post(token_endpoint)
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)])
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// One full sign-in of `user` as a new browser; returns the token response.
async fn sign_in(http: &reqwest::Client, base: &str, user: &str) -> Result<serde_json::Value, String> {
    let e = |e: reqwest::Error| e.to_string();
    let q = authorize_query("openid email offline_access");
    let r = http.get(format!("{base}/authorize")).query(&q).send().await.map_err(e)?;
    let chooser = location(&r)?;
    let r = http.get(format!("{base}{chooser}")).send().await.map_err(e)?;
    let start = location(&r)?;
    let r = http.get(format!("{base}{start}")).send().await.map_err(e)?;
    let r = dev_form(http, base, r, user).await?;
    let code = param(&location(&r)?, "code").ok_or("no code")?;
    redeem(http, &format!("{base}/token"), &code).await?.json().await.map_err(e)
}

/// Fill in and post the dev provider's form `r` as `user`.
async fn dev_form(
    http: &reqwest::Client,
    base: &str,
    r: reqwest::Response,
    user: &str,
) -> Result<reqwest::Response, String> {
    let e = |e: reqwest::Error| e.to_string();
    let login = cookie(&r, "braid_login").ok_or("no login cookie")?;
    let html = r.text().await.map_err(e)?;
    let state =
        html.split("name=\"state\" value=\"").nth(1).and_then(|s| s.split('"').next()).ok_or("no state")?.to_owned();
    let r = http
        .post(format!("{base}/login/dev"))
        .header(reqwest::header::COOKIE, login)
        .form(&[("state", state.as_str()), ("username", user), ("email", "bench@example.com")])
        .send()
        .await
        .map_err(e)?;
    Ok(r)
}

/// A dev sign-in of `user` straight at braid (no client); returns the session cookie.
async fn session_cookie(http: &reqwest::Client, base: &str, user: &str) -> Result<String, String> {
    let e = |e: reqwest::Error| e.to_string();
    let r = http.get(format!("{base}/login/dev")).send().await.map_err(e)?;
    let r = dev_form(http, base, r, user).await?;
    cookie(&r, "braid_session").ok_or_else(|| format!("no session cookie ({})", r.status()))
}

async fn phase<F, Fut>(name: impl Into<String>, total: usize, concurrency: usize, op: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let name: Arc<str> = name.into().into();
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (op, name) = (op.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = worker;
            while i < total {
                let t = Instant::now();
                if let Err(e) = op(i).await {
                    eprintln!("{name}: {e}");
                    std::process::exit(1);
                }
                samples.push(t.elapsed());
                i += concurrency;
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap_or_default());
    }
    Figures { name: name.to_string(), samples, wall: started.elapsed() }
}

/// `[limits]` on, with budgets the bench never reaches.
const LIMITS_ON: &str = "[limits]\nsign_in_starts_per_minute = 100000000\nprovider_starts_per_minute = 100000000\n\
                         callbacks_per_minute = 100000000\ntoken_failures_per_minute = 100000000\n";
/// `[limits]` off.
const LIMITS_OFF: &str = "[limits]\nsign_in_starts_per_minute = 0\nprovider_starts_per_minute = 0\n\
                          callbacks_per_minute = 0\ntoken_failures_per_minute = 0\n";

/// Start braid in this process with `accounts`, `sessions` and the `[limits]` section `limits`;
/// its base URL.
async fn start_braid(dir: &std::path::Path, accounts: &str, sessions: &str, limits: &str) -> String {
    start_braid_with(dir, None, accounts, sessions, limits, "").await
}

/// As [`start_braid`], on `port` (any when `None`), with more `[[clients]]` TOML `clients`.
async fn start_braid_with(
    dir: &std::path::Path,
    port: Option<u16>,
    accounts: &str,
    sessions: &str,
    limits: &str,
    clients: &str,
) -> String {
    let port = port.unwrap_or(0);
    // `--sqlite-sync normal`: SQLite commits without an fsync each (`[store] sqlite_synchronous`).
    let sync = arg("--sqlite-sync", "full");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\naccounts = \"{accounts}\"\nsessions = \"{sessions}\"\nsqlite_synchronous = \"{sync}\"\n[keys]\ndir = \"{}\"\n\
         [providers]\ndir = \"{}\"\n[log]\nlevel = \"error\"\n{limits}[[clients]]\nid = \"{CLIENT}\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{CB}\"]\n{clients}",
        dir.join("keys").display(),
        dir.join("providers").display()
    );
    let settings: Settings = match toml::from_str(&toml) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench settings: {e}");
            std::process::exit(2);
        }
    };
    let app = match braid::Application::build(settings).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("braid did not start: {e:#}");
            std::process::exit(2);
        }
    };
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

/// Bytes Redis holds for one browser session and for one pending sign-in (`MEMORY USAGE` of a
/// `sess:` key and of a `tx:` key under braid's default prefix).
async fn redis_bytes(url: &str) -> Result<(Option<i64>, Option<i64>), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let conn = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
    let usage = |pattern: &'static str| {
        let mut conn = conn.clone();
        async move {
            let (_, keys): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(100_000)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            match keys.first() {
                None => Ok::<_, String>(None),
                Some(k) => redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(k)
                    .query_async::<Option<i64>>(&mut conn)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
    };
    let session = usage("braid:sess:*").await?;
    let tx = usage("braid:tx:*").await?;
    Ok((session, tx))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    // The bench's own bare hyper proxy, started pinned by the per-core phases.
    if let Some((port, upstream)) = bare::asked() {
        bare::run(port, upstream);
        return;
    }
    let n: usize = arg("--requests", "400").parse().unwrap_or(400);
    let c: usize = arg("--concurrency", "8").parse().unwrap_or(8);
    let accounts = arg("--accounts", "");
    let sessions = arg("--sessions", "memory");
    let dir = std::env::temp_dir().join(format!("braid-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("providers"));
    let _ = std::fs::write(dir.join("providers/dev.toml"), "kind = \"dev\"\n");
    let accounts = if accounts.is_empty() { format!("sqlite://{}", dir.join("bench.db").display()) } else { accounts };
    if arg("--only", "") == "brokered-pinned" {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
        let accounts = arg("--accounts", "");
        brokered::run(&http, &dir, &accounts, &sessions, c).await;
        scale::drop_created().await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if std::env::args().any(|a| a == "--compare") {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
        compare::run(&http, &dir).await;
        scale::drop_created().await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    // Rate limits on, with budgets no load here reaches (their cost is measured, not their refusals).
    let base = start_braid(&dir, &accounts, &sessions, LIMITS_ON).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
    println!("braid-bench: {n} operations per phase, {c} concurrent, accounts {accounts}, sessions {sessions}");

    let compare = arg("--sessions-compare", "");
    if !compare.is_empty() {
        let urls: Vec<String> = compare.split_whitespace().map(str::to_owned).collect();
        stores::run(&http, &dir, &accounts, &urls, n, c).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let grants: usize = arg("--grants", "0").parse().unwrap_or(0);
    if arg("--only", "") == "refresh-scale" {
        scale::refresh_at_scale(&http, &dir, &accounts, n, c, grants.max(1)).await;
        scale::drop_created().await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if arg("--only", "") == "brokered" {
        scale::brokered_sign_ins(&http, &dir, &accounts, &sessions, n, c).await;
        scale::drop_created().await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if arg("--only", "") == "percore" {
        let _ = std::fs::create_dir_all(dir.join("providers"));
        percore::run(&http, &dir, &sessions).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if arg("--only", "") == "upload" {
        let _ = std::fs::create_dir_all(dir.join("providers"));
        upload::run(&http, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Signing cost per algorithm (the key pair is parsed once, as braid does).
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let kdir = dir.join(format!("keys-{}", alg.as_str()));
        let Ok(keys) = braid::issuer::keys::KeySet::load_or_generate(&kdir, alg) else { continue };
        let claims = serde_json::json!({"iss": base, "sub": "a", "aud": CLIENT, "exp": 1, "iat": 0});
        let t = Instant::now();
        let rounds = 2000;
        for _ in 0..rounds {
            let _ = braid::issuer::jwt::sign(keys.current(), braid::issuer::jwt::TYP_ID, &claims);
        }
        println!(
            "{:<28} {:>9.1} µs per token",
            format!("sign {}", alg.as_str()),
            t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
        );
    }

    match saml_verify_micros(500) {
        Ok(us) => println!("{:<28} {:>9.1} µs per response", "verify SAML response", us),
        Err(e) => eprintln!("SAML verification bench: {e}"),
    }

    let scripts_before = if sessions.starts_with("redis://") { limits::scripts_run(&sessions).await } else { None };
    let (h, b) = (http.clone(), base.clone());
    let mut full = phase("full sign-in (new users)", n, c, move |i| {
        let (h, b) = (h.clone(), b.clone());
        async move { sign_in(&h, &b, &format!("user{i}")).await.map(|_| ()) }
    })
    .await;
    full.print();
    let scripts_after = if scripts_before.is_some() { limits::scripts_run(&sessions).await } else { None };

    let (h, b) = (http.clone(), base.clone());
    let mut again = phase("full sign-in (known users)", n, c, move |i| {
        let (h, b) = (h.clone(), b.clone());
        async move { sign_in(&h, &b, &format!("user{}", i % 50)).await.map(|_| ()) }
    })
    .await;
    again.print();

    // The same sign-ins on a braid with the rate limits off: their cost on this path.
    let off_dir = dir.join("limits-off");
    let _ = std::fs::create_dir_all(off_dir.join("providers"));
    let _ = std::fs::write(off_dir.join("providers/dev.toml"), "kind = \"dev\"\n");
    let off_accounts = if accounts.starts_with("sqlite:") {
        format!("sqlite://{}", off_dir.join("bench.db").display())
    } else {
        accounts.clone()
    };
    let off_base = start_braid(&off_dir, &off_accounts, &sessions, LIMITS_OFF).await;
    let off_before = if scripts_before.is_some() { limits::scripts_run(&sessions).await } else { None };
    let (h, b) = (http.clone(), off_base.clone());
    let mut off = phase("full sign-in (limits off)", n, c, move |i| {
        let (h, b) = (h.clone(), b.clone());
        async move { sign_in(&h, &b, &format!("off{i}")).await.map(|_| ()) }
    })
    .await;
    off.print();
    let off_after = if off_before.is_some() { limits::scripts_run(&sessions).await } else { None };
    println!(
        "{:<28} {:>9.1} % (sign-ins/s with limits on vs off; new users each; noisy)",
        "rate-limit overhead",
        (1.0 - full.rate() / off.rate().max(f64::MIN_POSITIVE)) * 100.0
    );
    if let (Some(before), Some(after), Some(off_before), Some(off_after)) =
        (scripts_before, scripts_after, off_before, off_after)
    {
        // Scripts run with the limits on, less those run with them off: the budget checks.
        let on = after.saturating_sub(before) as f64;
        let per_sign_in = (on - off_after.saturating_sub(off_before) as f64).max(0.0) / n.max(1) as f64;
        match limits::micros_per_check(&sessions, 2000).await {
            Ok(us) => println!(
                "{:<28} {:>9.1} µs per check, {:.1} checks per sign-in: {:.0} µs of a sign-in's {:.0} µs median",
                "rate-limit cost",
                us,
                per_sign_in,
                us * per_sign_in,
                full.median().as_secs_f64() * 1e6
            ),
            Err(e) => eprintln!("rate-limit cost: {e}"),
        }
    }
    if sessions.starts_with("redis") {
        // A pending sign-in: an authorization request that is never finished.
        let q = [
            ("client_id", CLIENT),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ];
        let _ = http.get(format!("{base}/authorize")).query(&q).send().await;
        match redis_bytes(&sessions).await {
            Ok((s, t)) => println!(
                "{:<28} {:>9} B per browser session, {} B per pending sign-in (Redis MEMORY USAGE)",
                "redis memory",
                s.map_or("?".into(), |v| v.to_string()),
                t.map_or("?".into(), |v| v.to_string())
            ),
            Err(e) => eprintln!("redis memory: {e}"),
        }
    }

    let (mut refresh, tokens) = stores::refresh_phase(&http, &base, "refresh (rotation)", n, c).await;
    refresh.print();
    scale::brokered_sign_ins(&http, &dir, &accounts, &sessions, n, c).await;
    if grants > 0 {
        scale::refresh_at_scale(&http, &dir, &accounts, n, c, grants).await;
    }
    scale::drop_created().await;

    let (h, b, tk) = (http.clone(), base.clone(), tokens);
    let mut userinfo = phase("userinfo", n, c, move |i| {
        let (h, b, slot) = (h.clone(), b.clone(), tk[i % tk.len()].clone());
        async move {
            let at = slot.lock().await.1.clone();
            let r = h.get(format!("{b}/userinfo")).bearer_auth(at).send().await.map_err(|e| e.to_string())?;
            if r.status().is_success() { Ok(()) } else { Err(format!("userinfo: {}", r.status())) }
        }
    })
    .await;
    userinfo.print();

    let _ = std::fs::create_dir_all(dir.join("providers"));
    percore::run(&http, &dir, &sessions).await;
    upload::run(&http, &dir).await;

    if let Some(kib) = peak_rss_kib() {
        println!("{:<28} {:>9.1} MiB (braid and this client, one process)", "peak memory", kib as f64 / 1024.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Verify one freshly signed SAML response (RSA-2048, SHA-256, the assertion signed) `rounds`
/// times through braid's whole pipeline; microseconds per response.
fn saml_verify_micros(rounds: u32) -> Result<f64, String> {
    use braid::upstream::saml::{checks::Expect, sp::instant, verify};
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::X509Builder};
    use samael::crypto::{Crypto, CryptoProvider};
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(e)?).map_err(e)?;
    let mut b = X509Builder::new().map_err(e)?;
    b.set_pubkey(&key).map_err(e)?;
    b.set_not_before(Asn1Time::days_from_now(0).map_err(e)?.as_ref()).map_err(e)?;
    b.set_not_after(Asn1Time::days_from_now(1).map_err(e)?.as_ref()).map_err(e)?;
    b.sign(&key, MessageDigest::sha256()).map_err(e)?;
    let cert = b.build().to_der().map_err(e)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let now = i64::try_from(now).map_err(|e| e.to_string())?;
    let (idp, acs, sp) = ("https://idp.bench", "https://braid.bench/saml/idp/acs", "https://braid.bench/saml/idp");
    let t = instant(now);
    let until = instant(now + 300);
    let template = format!(
        r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{t}" Destination="{acs}" InResponseTo="_req"><saml:Issuer>{idp}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a1" Version="2.0" IssueInstant="{t}"><saml:Issuer>{idp}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">p-bench</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{acs}" InResponseTo="_req"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{t}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{t}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="urn:oid:0.9.2342.19200300.100.1.3"><saml:AttributeValue>bench@example.org</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"##
    );
    let signed = Crypto::sign_xml(&template, &key.private_key_to_der().map_err(e)?).map_err(|e| e.to_string())?;
    let certs = [cert];
    let input = verify::VerifyInput {
        certs: &certs,
        want_assertions_signed: true,
        sp_key: None,
        allow_cbc: false,
        legacy_sha1: false,
        expect: Expect {
            idp_entity_id: idp,
            sp_entity_id: sp,
            acs_url: acs,
            request_id: Some("_req"),
            now_ms: now * 1000,
            skew_ms: 60_000,
            authn_after_ms: None,
            subject_attribute: None,
            email_attribute: None,
            name_attribute: None,
        },
    };
    let first = verify::verify_response(&signed, &input).map_err(|e| e.to_string())?;
    if first.subject != "p-bench" {
        return Err(format!("unexpected subject {}", first.subject));
    }
    let started = Instant::now();
    for _ in 0..rounds {
        verify::verify_response(&signed, &input).map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}
