//! SATOSA's brokered sign-in beside braid's (`--compare`): SATOSA (pinned in `bench/satosa`)
//! runs under gunicorn alone on core 0 with an OpenID Connect frontend (this driver is its
//! relying party) and an OpenID Connect backend pointing at the driver's fast local provider,
//! the same upstream braid's brokered run uses. Each sign-in is the whole flow: the frontend's
//! authorize, the upstream's, SATOSA's backend callback (code exchange, ID token check, userinfo)
//! and the code redeemed at SATOSA's token endpoint for its ID token (RS256, the only algorithm
//! its frontend signs with).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::brokered::Measured;
use crate::pinned;
use crate::{CB, CLIENT, SECRET, cookie, location, param};

/// The client id braid's and SATOSA's upstream (the fast provider) knows.
const UP_CLIENT: &str = "satosa";

/// SATOSA's frontend refuses an issuer that is not https, so it is configured with `https://`
/// base URLs and served plain on loopback, as behind a proxy that ends TLS; this driver plays
/// that proxy and sends its requests to the plain port.
#[derive(Clone)]
struct Urls {
    /// The base URL SATOSA is configured with (`https://127.0.0.1:port`).
    public: String,
    /// Where it listens (`http://127.0.0.1:port`).
    base: String,
}

impl Urls {
    /// `url` as this driver reaches it: SATOSA's own URLs on its plain port.
    fn plain(&self, url: &str) -> String {
        match url.strip_prefix(&self.public) {
            Some(rest) => format!("{}{rest}", self.base),
            None => url.to_owned(),
        }
    }
}

/// SATOSA under gunicorn, pinned to core 0.
struct Satosa {
    child: Child,
    urls: Urls,
}

impl Satosa {
    /// The gunicorn master and its worker.
    fn pids(&self) -> Vec<u32> {
        let id = self.child.id();
        let mut pids = vec![id];
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")) {
            pids.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
        pids
    }
}

impl Drop for Satosa {
    fn drop(&mut self) {
        pinned::stop(&mut self.child, "INT");
    }
}

/// SATOSA's endpoints for its relying parties (plain), and its URLs.
struct Endpoints {
    authorization: String,
    token: String,
    urls: Urls,
}

/// Where SATOSA's requirements and configure script are (absolute: gunicorn runs elsewhere).
fn home() -> PathBuf {
    let dir = PathBuf::from(crate::arg("--satosa-dir", "bench/satosa"));
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The venv `scripts/bench --compare` installs SATOSA in.
fn venv() -> PathBuf {
    home().join(".venv")
}

/// The installed SATOSA's version.
pub fn version() -> Option<String> {
    let out = std::process::Command::new(venv().join("bin/python"))
        .args(["-c", "import importlib.metadata as m; print(m.version('SATOSA'))"])
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Configure and start SATOSA in `dir` with the fast provider at `up` as its upstream.
fn start(dir: &Path, up: &str) -> Result<Satosa, String> {
    let venv = venv();
    let gunicorn = venv.join("bin/gunicorn");
    if !gunicorn.exists() {
        return Err(format!("{} is not installed", gunicorn.display()));
    }
    let port = pinned::free_port()?;
    let (public, base) = (format!("https://127.0.0.1:{port}"), format!("http://127.0.0.1:{port}"));
    let conf = dir.join("satosa");
    let configure = home().join("configure.py");
    let out = std::process::Command::new(venv.join("bin/python"))
        .arg(&configure)
        .arg(&conf)
        .args([public.as_str(), up, UP_CLIENT, SECRET, CLIENT, SECRET, CB])
        .output()
        .map_err(|e| format!("configure.py: {e}"))?;
    if !out.status.success() {
        return Err(format!("configure.py: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut child = pinned::pinned(pinned::SERVER_CORE, &gunicorn)
        .args(["--workers", "1", "--worker-class", "gthread", "--threads", "8", "--log-level", "error"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("satosa.wsgi:app")
        .env("SATOSA_CONFIG", conf.join("proxy_conf.yaml"))
        .current_dir(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("taskset gunicorn: {e}"))?;
    pinned::wait_for(port, &mut child, "SATOSA")?;
    Ok(Satosa { child, urls: Urls { public, base } })
}

/// The frontend's endpoints, from its discovery document.
async fn endpoints(http: &reqwest::Client, satosa: &Satosa) -> Result<Endpoints, String> {
    let d: serde_json::Value = http
        .get(format!("{}/.well-known/openid-configuration", satosa.urls.base))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| format!("SATOSA discovery: {e}"))?;
    let get = |k: &str| d[k].as_str().map(|u| satosa.urls.plain(u)).ok_or(format!("SATOSA discovery has no {k}"));
    Ok(Endpoints {
        authorization: get("authorization_endpoint")?,
        token: get("token_endpoint")?,
        urls: satosa.urls.clone(),
    })
}

/// One brokered sign-in of `user` through SATOSA, as a new browser.
async fn sign_in(http: &reqwest::Client, ep: &Endpoints, user: &str) -> Result<(), String> {
    let e = |e: reqwest::Error| e.to_string();
    let r = http.get(&ep.authorization).query(&crate::authorize_query("openid email")).send().await.map_err(e)?;
    let state = cookie(&r, "SATOSA_STATE").ok_or_else(|| format!("no SATOSA state cookie ({})", r.status()))?;
    let upstream = url::Url::parse_with_params(&location(&r)?, &[(crate::fast_op::USER_PARAM, user)])
        .map_err(|e| e.to_string())?;
    let back = ep.urls.plain(&location(&http.get(upstream.as_str()).send().await.map_err(e)?)?);
    let r = http.get(&back).header(reqwest::header::COOKIE, state).send().await.map_err(e)?;
    let to_client = location(&r)?;
    let code = param(&to_client, "code").ok_or_else(|| format!("no code: {to_client}"))?;
    let r = crate::redeem(http, &ep.token, &code).await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.map_err(e)?;
    match body.get("id_token") {
        Some(_) if status.is_success() => Ok(()),
        _ => Err(format!("SATOSA token: {status} {body}")),
    }
}

/// SATOSA's brokered sign-ins, `c` concurrent, measured like braid's.
pub async fn run(http: &reqwest::Client, dir: &Path, c: usize, secs: u64) -> Result<Measured, String> {
    let own = dir.join("satosa_run");
    std::fs::create_dir_all(&own).map_err(|e| e.to_string())?;
    let up = crate::fast_op::start(&own, UP_CLIENT).await?;
    let satosa = start(&own, &up)?;
    let ep = std::sync::Arc::new(endpoints(http, &satosa).await?);
    sign_in(http, &ep, "known0").await.map_err(|e| format!("first sign-in: {e}"))?;
    let h = http.clone();
    let m = crate::brokered::measure(c, secs, &satosa.pids(), move |user| {
        let (h, ep) = (h.clone(), ep.clone());
        async move { sign_in(&h, &ep, &user).await }
    })
    .await?;
    m.print("SATOSA brokered RS256", "SATOSA", "core 0", "core 1 (driver and upstream)");
    Ok(m)
}
