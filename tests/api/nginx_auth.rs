//! A real nginx (Debian's package) with `auth_request /auth/verify` in front of a small app
//! that echoes the headers it receives, run with `deploy/nginx-auth-request.conf`: without a
//! session the browser is sent to sign in; after a dev sign-in the app sees the account id and a
//! valid assertion; a client-sent `X-Auth-Request-User` never reaches it; after the account is
//! disabled, the next request is refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use braid::accounts::{AccountId, Actor};
use reqwest::StatusCode;

use crate::helpers::*;

/// The echo app: every request is answered with its headers as JSON.
pub async fn echo_app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let mut seen: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in &headers {
            seen.entry(k.as_str().to_owned()).or_default().push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        axum::Json(seen)
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx as a child process (not a daemon), stopped when dropped.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's fast shutdown stops its workers too.
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

fn nginx_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" }
}

/// Start nginx on `port` with the deployment file, its placeholders replaced.
async fn start_nginx(port: u16, app: SocketAddr, braid: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx-auth-request.conf")).unwrap();
    let temp = dir.path().display().to_string();
    let conf = template
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@APP@", &app.to_string())
        .replace("@BRAID@", braid)
        // Temporary files in the test's directory (the packaged ones may not be writable).
        .replace(
            "http {",
            &format!(
                "http {{\n    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n    \
                 fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n    scgi_temp_path {temp}/scgi;"
            ),
        );
    assert!(!conf.contains('@'), "every placeholder replaced");
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg("stderr")
        .arg("-g")
        .arg(format!("daemon off; pid {}/nginx.pid;", temp))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx runs (scripts/test installs Debian's nginx)");
    let mut nginx = Nginx { child, _dir: dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return nginx;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nginx did not listen on {port}");
}

pub async fn seen(r: reqwest::Response) -> HashMap<String, Vec<String>> {
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_signs_in_passes_the_identity_and_refuses_after_disable() {
    let port = free_port();
    let front = format!("http://127.0.0.1:{port}");
    let app =
        spawn_app_with(&format!("[[routes]]\nhost = \"127.0.0.1:{port}\"\npublic_paths = [\"/healthz\"]\n")).await;
    // The dev provider trusted for email, so that the verified email is passed on.
    std::fs::write(app.dir().join("providers/dev.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    app.state.providers.reload();
    let echo = echo_app().await;
    let _nginx = start_nginx(port, echo, app.base.trim_start_matches("http://")).await;
    // A cookie jar holding cookies of the application's own besides braid's.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str("theme=dark; Path=/", &front.parse().unwrap());
    jar.add_cookie_str("zlang=fr; Path=/", &front.parse().unwrap());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let spoof = [("X-Auth-Request-User", "a-forged-account"), ("X-Braid-Assertion", "forged")];

    // A public path passes without a session, and the client's identity headers are dropped.
    let mut req = b.get(format!("{front}/healthz"));
    for (k, v) in spoof {
        req = req.header(k, v);
    }
    let h = seen(req.send().await.unwrap()).await;
    assert!(!h.contains_key("x-auth-request-user"), "{h:?}");
    assert!(!h.contains_key("x-braid-assertion"), "{h:?}");

    // Without a session: auth_request's 401 becomes the sign-in redirect, with the URL asked for.
    let r = b.get(format!("{front}/docs?page=2&q=a")).header(spoof[0].0, spoof[0].1).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let start = location(&r);
    assert!(start.starts_with(&format!("{}/auth/start?rd=", app.base)), "{start}");
    assert_eq!(query_param(&start, "rd").unwrap(), format!("{front}/docs?page=2&q=a"));

    // The sign-in round trip through braid's chooser and the dev provider.
    let back = crate::forward_auth::sign_in_at_start(&app, &b, &start, "dev", "nia", "nia@example.com", true).await;
    assert_eq!(back, format!("{front}/docs?page=2&q=a"));
    let account: AccountId =
        app.state.accounts.find_identity("urn:braid:dev:dev", "nia").await.unwrap().unwrap().account_id;
    let mut req = b.get(&back);
    for (k, v) in spoof {
        req = req.header(k, v);
    }
    let h = seen(req.send().await.unwrap()).await;
    assert_eq!(h.get("x-auth-request-user"), Some(&vec![account.as_str().to_owned()]), "only braid's value: {h:?}");
    assert_eq!(h["x-auth-request-email"], vec!["nia@example.com".to_owned()]);
    assert_eq!(h["x-auth-request-idp"], vec!["urn:braid:dev:dev".to_owned()]);
    let assertion = &h["x-braid-assertion"];
    assert_eq!(assertion.len(), 1);
    let claims = crate::forward_auth::verify_assertion(&app.base, &assertion[0], &front).await;
    assert_eq!(claims["sub"], account.as_str());
    assert_eq!(claims["iss"], app.base.as_str());
    // braid's session cookie stays between the browser and braid; the app's own pass.
    use reqwest::cookie::CookieStore as _;
    let sent = jar.cookies(&front.parse().unwrap()).unwrap();
    assert!(sent.to_str().unwrap().contains("braid_session="), "the browser sends it to the app's host: {sent:?}");
    let cookies = h.get("cookie").map(|c| c.join("; ")).unwrap_or_default();
    assert!(!cookies.contains("braid_"), "no braid cookie reaches the app: {cookies}");
    assert!(cookies.contains("theme=dark") && cookies.contains("zlang=fr"), "{cookies}");
    // Every copy of braid's cookies is kept back (a browser may hold a host-only and a
    // domain-wide copy), in any order among the app's.
    let session = sent.to_str().unwrap().split("; ").find(|c| c.starts_with("braid_session=")).unwrap().to_owned();
    let doubled = format!("{session}; theme=dark; {session}; braid_login=x; zlang=fr; {session}");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&back)
        .header("cookie", doubled)
        .send()
        .await
        .unwrap();
    let h = seen(r).await;
    let cookies = h.get("cookie").map(|c| c.join("; ")).unwrap_or_default();
    assert!(!cookies.contains("braid_"), "no copy of a braid cookie reaches the app: {cookies}");
    assert!(cookies.contains("theme=dark") && cookies.contains("zlang=fr"), "{cookies}");

    // Disabled (in the store, as another replica would): the next request is refused.
    app.state.accounts.set_disabled(&account, true, &Actor::admin("test"), 0).await.unwrap().unwrap();
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "sent to sign in again");
    assert!(location(&r).starts_with(&format!("{}/auth/start?rd=", app.base)));
}
