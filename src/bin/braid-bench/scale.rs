//! Two scenarios of issue 15: refresh with rotation before and after the database is filled with
//! `--grants` generated grants (one bulk INSERT in a transaction, straight into SQL), and a
//! brokered sign-in of known users through a real upstream OpenID Provider — a second braid,
//! with the first braid's `oidc` provider file pointing at it.

use std::path::Path;
use std::time::Instant;

use sqlx::Row as _;

use super::{CLIENT, LIMITS_ON, SECRET, cookie, location, param, phase, start_braid_with, stores};

/// For PostgreSQL, a fresh database beside the one `url` names (the grants are not left in it);
/// SQLite gets its own file in `dir`.
pub async fn own_database(url: &str, dir: &Path) -> Result<String, String> {
    if url.starts_with("sqlite:") || url.is_empty() {
        return Ok(format!("sqlite://{}", dir.join("scale.db").display()));
    }
    sqlx::any::install_default_drivers();
    use sqlx::Connection as _;
    let mut conn = sqlx::AnyConnection::connect(url).await.map_err(|e| e.to_string())?;
    let name =
        format!("braid_bench_{}_{}", std::process::id(), dir.file_name().and_then(|n| n.to_str()).unwrap_or("db"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.map_err(|e| e.to_string())?;
    if let Ok(mut made) = CREATED.lock() {
        made.push((url.to_owned(), name.clone()));
    }
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// The PostgreSQL databases the bench made, with the URL it made each from.
static CREATED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Drop every database the bench made (`WITH (FORCE)`: the braids of the bench still hold
/// connections to them).
pub async fn drop_created() {
    let made = CREATED.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default();
    for (url, name) in made {
        use sqlx::Connection as _;
        let dropped = match sqlx::AnyConnection::connect(&url).await {
            Ok(mut conn) => sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = dropped {
            eprintln!("could not drop the bench database {name}: {e}");
        }
    }
}

/// Fill the grant tables with `n` live grants (and one unused refresh token each) of the
/// bench's client, spread over browser sessions, in one transaction.
pub async fn fill(url: &str, n: usize) -> Result<(), String> {
    let e = |e: sqlx::Error| e.to_string();
    let db = braid::db::Db::connect(url).await.map_err(|e| e.to_string())?;
    let row = sqlx::query("SELECT i.account_id, i.id FROM identities i ORDER BY i.id LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .map_err(e)?;
    let account: String = row.try_get(0).map_err(e)?;
    let identity: i64 = row.try_get(1).map_err(e)?;
    let now = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis(),
    )
    .unwrap_or(0);
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let (series, grants, tokens) = match db.backend {
        braid::db::Backend::Sqlite => {
            ("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1) ", " FROM s", " FROM s")
        }
        braid::db::Backend::Postgres => {
            ("", " FROM generate_series(1, $1) AS s(i)", " FROM generate_series(1, $1) AS s(i)")
        }
    };
    let mut tx = db.pool.begin().await.map_err(e)?;
    sqlx::query(&format!(
        "{series}INSERT INTO grants (id, account_id, client_id, scope, auth_time, idp, amr, sid, created_at, expires_at, \
         identity_id, provider_id, session_key) SELECT 'bulk-' || i, $2, '{CLIENT}', 'openid email offline_access', $3, \
         'urn:braid:dev:dev', 'pwd', 'bulk-sid-' || (i % 100000), $4, $5, $6, 'dev', 'bulk-sess-' || (i % 100000){grants}"
    ))
    .bind(n)
    .bind(&account)
    .bind(now / 1000)
    .bind(now)
    .bind(now + 30 * 86_400_000)
    .bind(identity)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    sqlx::query(&format!(
        "{series}INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT 'bulk-hash-' || i, 'bulk-' || i, $2{tokens}"
    ))
    .bind(n)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)?;
    if db.backend == braid::db::Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await.map_err(e)?;
    }
    db.pool.close().await;
    Ok(())
}

/// Refresh with rotation on an empty database, then after `grants` grants were added.
pub async fn refresh_at_scale(http: &reqwest::Client, dir: &Path, accounts: &str, n: usize, c: usize, grants: usize) {
    let own = dir.join("scale");
    let _ = std::fs::create_dir_all(own.join("providers"));
    let _ = std::fs::write(own.join("providers/dev.toml"), "kind = \"dev\"\n");
    let url = match own_database(accounts, &own).await {
        Ok(u) => u,
        Err(e) => {
            eprintln!("refresh at scale: {e}");
            return;
        }
    };
    let base = start_braid_with(&own, None, &url, "memory", LIMITS_ON, "").await;
    let (mut empty, _) = stores::refresh_phase(http, &base, "refresh @ 0 grants", n, c).await;
    empty.print();
    let t = Instant::now();
    if let Err(e) = fill(&url, grants).await {
        eprintln!("filling {grants} grants: {e}");
        return;
    }
    println!("{:<28} {grants} grants and refresh tokens in {:.1?} (one transaction)", "bulk fill", t.elapsed());
    // Twice: the first run after the fill shares the machine with the database's own work on
    // the new rows (PostgreSQL's checkpoint and autovacuum, SQLite's WAL checkpoint).
    let (mut first, _) = stores::refresh_phase(http, &base, &format!("refresh @ {grants} grants"), n, c).await;
    first.print();
    let (mut full, _) = stores::refresh_phase(http, &base, &format!("refresh @ {grants} (again)"), n, c).await;
    full.print();
    println!(
        "{:<28} {:>9.2} × (ops/s at {grants} grants / at 0); p99/p50 at {grants}: {:.1}",
        "refresh flatness",
        full.rate() / empty.rate().max(f64::MIN_POSITIVE),
        full.percentile(0.99).as_secs_f64() / full.median().as_secs_f64().max(f64::MIN_POSITIVE)
    );
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// One brokered sign-in of `user`: the client at `down`, the person sent on to the upstream braid
/// `up`, signed in there with its dev provider, and back; the cookies of each host kept apart.
pub(crate) async fn brokered(http: &reqwest::Client, down: &str, up: &str, user: &str) -> Result<(), String> {
    brokered_via(http, down, up, user, false).await
}

/// [`brokered`], through the fast local provider when `fast` (its authorize answers at once for
/// the user named in the request), else through an upstream braid and its dev form.
pub(crate) async fn brokered_via(
    http: &reqwest::Client,
    down: &str,
    up: &str,
    user: &str,
    fast: bool,
) -> Result<(), String> {
    let e = |e: reqwest::Error| e.to_string();
    let r =
        http.get(format!("{down}/authorize")).query(&crate::authorize_query("openid email")).send().await.map_err(e)?;
    let mut next = format!("{down}{}", location(&r)?);
    // The chooser, then the provider's start, which binds the attempt to this browser.
    let mut down_login = None;
    while next.starts_with(down) {
        let r = http.get(&next).send().await.map_err(e)?;
        down_login = cookie(&r, "braid_login").or(down_login);
        let l = location(&r)?;
        next = if l.starts_with('/') { format!("{down}{l}") } else { l };
    }
    // The fast provider answers at once for the user named; the upstream braid: its authorize,
    // chooser and dev form.
    let l = if fast {
        let named =
            url::Url::parse_with_params(&next, &[(crate::fast_op::USER_PARAM, user)]).map_err(|e| e.to_string())?;
        location(&http.get(named.as_str()).send().await.map_err(e)?)?
    } else {
        let r = http.get(&next).send().await.map_err(e)?;
        let mut l = location(&r)?;
        loop {
            let r = http.get(format!("{up}{l}")).send().await.map_err(e)?;
            if r.status().is_redirection() {
                l = location(&r)?;
                continue;
            }
            let r = super::dev_form(http, up, r, user).await?;
            break location(&r)?;
        }
    };
    // Back at the first braid's callback, then the client's code.
    let r = http
        .get(&l)
        .header(reqwest::header::COOKIE, down_login.ok_or("no login cookie from the first braid")?)
        .send()
        .await
        .map_err(e)?;
    let back = location(&r)?;
    let code = param(&back, "code").ok_or_else(|| format!("no code: {back}"))?;
    let r = crate::redeem(http, &format!("{down}/token"), &code).await?;
    if r.status().is_success() { Ok(()) } else { Err(format!("token: {}", r.status())) }
}

/// Brokered sign-ins of known users: braid → a second braid (the upstream OpenID Provider, its
/// dev provider) → back. Both run in this process, on `accounts` (each its own SQLite file).
pub async fn brokered_sign_ins(http: &reqwest::Client, dir: &Path, accounts: &str, sessions: &str, n: usize, c: usize) {
    let (up_dir, down_dir) = (dir.join("upstream"), dir.join("broker"));
    for d in [&up_dir, &down_dir] {
        let _ = std::fs::create_dir_all(d.join("providers"));
    }
    let _ = std::fs::write(up_dir.join("providers/dev.toml"), "kind = \"dev\"\n");
    let down_db = if accounts.starts_with("sqlite:") || accounts.is_empty() {
        format!("sqlite://{}", down_dir.join("bench.db").display())
    } else {
        accounts.to_owned()
    };
    let down_port = free_port();
    let down = format!("http://127.0.0.1:{down_port}");
    let up_client =
        format!("[[clients]]\nid = \"broker\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{down}/callback/up\"]\n");
    // The upstream keeps its own database (PostgreSQL: a fresh one beside `accounts`).
    let up_db = match own_database(accounts, &up_dir).await {
        Ok(u) => u,
        Err(e) => {
            eprintln!("brokered sign-in: {e}");
            return;
        }
    };
    let up = start_braid_with(&up_dir, None, &up_db, sessions, LIMITS_ON, &up_client).await;
    let _ = std::fs::write(
        down_dir.join("providers/up.toml"),
        format!(
            "kind = \"oidc\"\nissuer = \"{up}\"\nclient_id = \"broker\"\nclient_secret = \"{SECRET}\"\ntrust_email = true\n"
        ),
    );
    let started = start_braid_with(&down_dir, Some(down_port), &down_db, sessions, LIMITS_ON, "").await;
    if started != down {
        eprintln!("brokered sign-in: the first braid listens at {started}, not {down}");
        return;
    }
    // Every user signs in once first, so the measured ones are known at both braids.
    let users = 50;
    for u in 0..users {
        if let Err(e) = brokered(http, &down, &up, &format!("known{u}")).await {
            eprintln!("brokered sign-in (setup): {e}");
            return;
        }
    }
    let (h, d, u) = (http.clone(), down.clone(), up.clone());
    let mut f = phase("brokered sign-in (known)", n, c, move |i| {
        let (h, d, u) = (h.clone(), d.clone(), u.clone());
        async move { brokered(&h, &d, &u, &format!("known{}", i % users)).await }
    })
    .await;
    f.print();
}
