//! A real Caddy (Debian's package) with `forward_auth` against `/auth/forward` in front of the
//! echo app, run with `deploy/Caddyfile.forward-auth`: without a session the browser is sent to
//! `/auth/start` with the URL it asked for; after a dev sign-in the app sees the account id and
//! a valid assertion, and neither a client-sent identity header nor braid's session cookie;
//! after the account is disabled, the next request is sent to sign in again. Caddy runs as a
//! child process (admin endpoint off, plain http on loopback) and is stopped when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use braid::accounts::{AccountId, Actor};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::nginx_auth::{echo_app, free_port, seen};

/// Caddy as a child process, stopped (and waited for) when dropped.
pub struct Caddy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Caddy {
    /// What Caddy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

fn caddy_binary() -> &'static str {
    if std::path::Path::new("/usr/bin/caddy").exists() { "/usr/bin/caddy" } else { "caddy" }
}

/// Start Caddy on loopback `port` for site `site` (`http://host:port`) with the deployment
/// file, its placeholders replaced, in front of `app`, asking braid at `braid` (host:port).
pub async fn start_caddy(site: &str, port: u16, app: SocketAddr, braid: &str) -> Caddy {
    let dir = tempfile::tempdir().unwrap();
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/Caddyfile.forward-auth")).unwrap();
    let site_block = template.replace("@SITE@", site).replace("@APP@", &app.to_string()).replace("@BRAID@", braid);
    for p in ["@SITE@", "@APP@", "@BRAID@"] {
        assert!(!site_block.contains(p), "{p} replaced");
    }
    // For the test: no admin endpoint, no certificates, listening on loopback only.
    let conf = format!("{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}}\n\n{site_block}");
    let path = dir.path().join("Caddyfile");
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let child = Command::new(caddy_binary())
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        // Caddy's data and config directories (certificates, autosave) inside the test's own.
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("caddy runs (scripts/test installs Debian's caddy)");
    let mut caddy = Caddy { child, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return caddy;
        }
        if let Ok(Some(status)) = caddy.child.try_wait() {
            panic!("caddy exited: {status}\n{}", caddy.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("caddy did not listen on {port}\n{}", caddy.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_signs_in_passes_the_identity_and_refuses_after_disable() {
    let port = free_port();
    let front = format!("http://127.0.0.1:{port}");
    let app =
        spawn_app_with(&format!("[[routes]]\nhost = \"127.0.0.1:{port}\"\npublic_paths = [\"/healthz\"]\n")).await;
    std::fs::write(app.dir().join("providers/dev.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    app.state.providers.reload();
    let echo = echo_app().await;
    let caddy = start_caddy(&front, port, echo, app.base.trim_start_matches("http://")).await;
    // A cookie jar holding one cookie of the application's own besides braid's.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str("theme=dark; Path=/", &front.parse().unwrap());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let spoof = [
        ("X-Auth-Request-User", "a-forged-account"),
        ("X-Auth-Request-Email", "forged@example.com"),
        ("X-Braid-Assertion", "forged"),
        ("X-Forwarded-Host", "elsewhere.example"),
    ];
    let with_spoof = |mut req: reqwest::RequestBuilder| {
        for (k, v) in spoof {
            req = req.header(k, v);
        }
        req
    };

    // A public path passes without a session; no identity header reaches the app, neither the
    // client's nor a placeholder Caddy made up for one braid did not send.
    let h = seen(with_spoof(b.get(format!("{front}/healthz"))).send().await.unwrap()).await;
    for name in ["x-auth-request-user", "x-auth-request-email", "x-auth-request-idp", "x-braid-assertion"] {
        assert!(!h.contains_key(name), "{name}: {h:?}");
    }

    // Without a session: braid's 302 to its sign-in, with the URL asked for as rd.
    let r = with_spoof(b.get(format!("{front}/docs?page=2&q=a"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{}", caddy.log());
    let start = location(&r);
    assert!(start.starts_with(&format!("{}/auth/start?rd=", app.base)), "{start}");
    assert_eq!(query_param(&start, "rd").unwrap(), format!("{front}/docs?page=2&q=a"));

    let back = crate::forward_auth::sign_in_at_start(&app, &b, &start, "dev", "ines", "ines@example.com", true).await;
    assert_eq!(back, format!("{front}/docs?page=2&q=a"));
    let account: AccountId =
        app.state.accounts.find_identity("urn:braid:dev:dev", "ines").await.unwrap().unwrap().account_id;
    let h = seen(with_spoof(b.get(&back)).send().await.unwrap()).await;
    assert_eq!(h.get("x-auth-request-user"), Some(&vec![account.as_str().to_owned()]), "only braid's value: {h:?}");
    assert_eq!(h["x-auth-request-email"], vec!["ines@example.com".to_owned()]);
    assert_eq!(h["x-auth-request-idp"], vec!["urn:braid:dev:dev".to_owned()]);
    assert_eq!(h["x-auth-request-preferred-username"], vec!["ines".to_owned()]);
    assert_eq!(h["x-forwarded-host"], vec![format!("127.0.0.1:{port}")], "Caddy's own value");
    let assertion = &h["x-braid-assertion"];
    assert_eq!(assertion.len(), 1);
    let claims = crate::forward_auth::verify_assertion(&app.base, &assertion[0], &front).await;
    assert_eq!(claims["sub"], account.as_str());
    assert_eq!(claims["iss"], app.base.as_str());
    // braid's session cookie stays between the browser and braid; the app's own passes.
    use reqwest::cookie::CookieStore as _;
    let sent = jar.cookies(&front.parse().unwrap()).unwrap();
    assert!(sent.to_str().unwrap().contains("braid_session="), "the browser sends it to the app's host: {sent:?}");
    assert_eq!(h.get("cookie"), Some(&vec!["theme=dark".to_owned()]), "{h:?}");

    // Disabled (in the store, as another replica would): the next request goes to sign in.
    app.state.accounts.set_disabled(&account, true, &Actor::admin("test"), 0).await.unwrap().unwrap();
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "sent to sign in again");
    assert!(location(&r).starts_with(&format!("{}/auth/start?rd=", app.base)));

    // Stopped with the test: nothing is left listening.
    drop(caddy);
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "caddy stopped");
}
