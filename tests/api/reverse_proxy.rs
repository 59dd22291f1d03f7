//! braid's own reverse proxy, called with the `Host` of a route that has an `upstream`, in front
//! of a small upstream inside the test that echoes what it receives, streams, stalls, and
//! answers WebSocket upgrades: sign-in redirects with the URL asked for, 401 for requests that
//! are not navigations, public paths, each policy key, identity headers and a verified
//! assertion, spoofed claims and braid's cookies stripped, the upstream's `Set-Cookie`, a
//! WebSocket echo, 64 MiB streamed both ways (each side sees the first mebibyte before the
//! other has sent the rest), 502 and 504 pages, and trust re-checked on every
//! request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use braid::accounts::Actor;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, HOST};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::forward_auth::{Proxied, proxied_with, sign_in_at_start, verify_assertion};
use crate::helpers::*;

/// 64 KiB chunks of the streaming tests.
const CHUNK: usize = 64 * 1024;
/// 64 MiB in all.
const CHUNKS: usize = 1024;

/// The byte at `offset` of a streamed body.
fn pattern(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Chunk `i` of a streamed body, made when it is needed.
fn chunk(i: usize) -> Bytes {
    Bytes::from((0..CHUNK).map(|j| pattern(i * CHUNK + j)).collect::<Vec<u8>>())
}

/// The upstream: its address, how many requests reached it, and the signals that show a body
/// streams (each side waits for the other to see the first mebibyte before sending the rest:
/// a proxy that buffered whole bodies would never get there).
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// The upstream has received the first mebibyte of an upload.
    upload_began: Arc<Notify>,
    /// The client has received the first mebibyte of a download.
    download_began: Arc<Notify>,
}

/// Chunks sent before each side waits for the other.
const HEAD_START: usize = 32;

/// Wait for `signal`; a proxy that buffered whole bodies would make this wait forever.
async fn streamed(signal: &Notify) {
    tokio::time::timeout(Duration::from_secs(60), signal.notified())
        .await
        .expect("the other side saw the first mebibyte before the whole body was sent: nothing is buffered");
}

/// `CHUNKS` chunks, waiting for `signal` after the first `HEAD_START`.
fn chunks_after(signal: Arc<Notify>) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(0usize, move |i| {
        let signal = signal.clone();
        async move {
            if i == CHUNKS {
                return None;
            }
            if i == HEAD_START {
                streamed(&signal).await;
            }
            Some((Ok(chunk(i)), i + 1))
        }
    })
}

/// Count the bytes of `part` (at `n`) into `ok`; say on `began` when the first mebibyte is in.
fn check_part(part: &[u8], n: &mut usize, ok: &mut bool, began: &Notify) {
    *ok &= part.iter().enumerate().all(|(j, b)| *b == pattern(*n + j));
    if *n < 1 << 20 && *n + part.len() >= 1 << 20 {
        began.notify_one();
    }
    *n += part.len();
}

/// Every request answered with its method, target and headers as JSON, a cookie of the
/// application's own and one named like braid's session.
async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let mut seen = serde_json::Map::new();
    for (k, v) in &headers {
        let list = seen.entry(k.as_str()).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!(String::from_utf8_lossy(v.as_bytes())));
        }
    }
    let body = axum::Json(json!({ "method": method.as_str(), "uri": uri.to_string(), "headers": seen }));
    // braid's own session cookie too, which an application must not plant.
    let cookies = [("set-cookie", "app_session=from-app; Path=/; HttpOnly"), ("set-cookie", "braid_session=planted")];
    (axum::response::AppendHeaders(cookies), body).into_response()
}

/// Read the whole body as it streams and check every byte.
async fn upload(began: Arc<Notify>, body: Body) -> axum::Json<Value> {
    let (mut n, mut ok) = (0usize, true);
    let mut stream = body.into_data_stream();
    while let Some(part) = stream.next().await {
        check_part(&part.unwrap(), &mut n, &mut ok, &began);
    }
    axum::Json(json!({ "bytes": n, "ok": ok }))
}

/// A WebSocket that greets with the user it was told of, then echoes.
async fn ws_echo(mut req: Request) -> Response {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let user = req.headers().get("x-auth-request-user").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = hyper_util::rt::TokioIo::new(on.await.unwrap());
        let role = tokio_tungstenite::tungstenite::protocol::Role::Server;
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, role, None).await;
        ws.send(Message::text(format!("hello {user}"))).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
            ws.send(m).await.unwrap();
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .body(Body::empty())
        .unwrap()
}

async fn upstream() -> Upstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let (upload_began, download_began) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (up, down) = (upload_began.clone(), download_began.clone());
    let app = axum::Router::new()
        .route("/upload", post(move |body: Body| upload(up.clone(), body)))
        .route("/download", get(move || async move { Body::from_stream(chunks_after(down.clone())) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(120)).await;
                "late"
            }),
        )
        .route(
            "/patient/late",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(3500)).await;
                "late but fine"
            }),
        )
        .route(
            "/stall",
            get(|| async {
                // The head and a first chunk, then nothing ever again.
                let first =
                    futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"first chunk;")) });
                Body::from_stream(first.chain(futures_util::stream::pending()))
            }),
        )
        .route("/ws", get(ws_echo))
        .fallback(echo)
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Upstream { addr, hits, upload_began, download_began }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// braid proxying `app.test` (every policy key, as `forward_auth` has them) and `down.test`
/// (nothing listens); `fa.test` is a forward-auth route without an upstream.
async fn proxy() -> (Proxied, Upstream) {
    let up = upstream().await;
    let (app, down) = (format!("http://{}", up.addr), format!("http://127.0.0.1:{}", closed_port()));
    let p = proxied_with(|alma| {
        format!(
            r#"
[proxy]
upstream_timeout_secs = 2

[[routes]]
host = "app.test"
upstream = "{app}"
public_paths = ["/healthz"]

[[routes]]
host = "app.test"
path_prefix = "/admin"
upstream = "{app}"
allow_accounts = ["{alma}"]

[[routes]]
host = "app.test"
path_prefix = "/dev2"
upstream = "{app}"
allow_providers = ["dev2"]

[[routes]]
host = "app.test"
path_prefix = "/corp"
upstream = "{app}"
allow_email_domains = ["corp.example"]
audience = "urn:corp"

[[routes]]
host = "app.test"
path_prefix = "/patient"
upstream = "{app}"
upstream_timeout_secs = 8

[[routes]]
host = "down.test"
upstream = "{down}"

[[routes]]
host = "fa.test"
"#
        )
    })
    .await;
    (p, up)
}

/// A request to braid for `host`.
fn to(app: &TestApp, b: &reqwest::Client, method: Method, host: &str, path: &str) -> reqwest::RequestBuilder {
    b.request(method, app.url(path)).header(HOST, host)
}

/// A browser's top-level navigation to `http://{host}{path}`.
fn nav(app: &TestApp, b: &reqwest::Client, host: &str, path: &str) -> reqwest::RequestBuilder {
    to(app, b, Method::GET, host, path).header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
}

/// A browser whose cookie jar the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (b, jar)
}

/// Sign in through the proxy: the navigation is sent to `/auth/start` and comes back to it.
async fn sign_in(p: &Proxied, b: &reqwest::Client, provider: &str, user: &str, email: &str, verified: bool) {
    let r = nav(&p.app, b, "app.test", "/docs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = sign_in_at_start(&p.app, b, &location(&r), provider, user, email, verified).await;
    assert_eq!(back, "http://app.test/docs");
}

async fn signed_in(p: &Proxied, provider: &str, user: &str, email: &str, verified: bool) -> reqwest::Client {
    let b = browser();
    sign_in(p, &b, provider, user, email, verified).await;
    b
}

/// The upstream's echo of a request: (status, JSON).
async fn echoed(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The values the upstream saw for header `name`.
fn seen(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"][name]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
}

#[tokio::test]
async fn a_browser_without_a_session_signs_in_and_the_upstream_sees_who_it_is() {
    let (p, up) = proxy().await;
    let b = browser();
    let r = nav(&p.app, &b, "app.test", "/docs/a?x=1&y=2").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let start = location(&r);
    assert!(start.starts_with(&format!("{}/auth/start?", p.app.base)), "{start}");
    assert_eq!(query_param(&start, "rd").as_deref(), Some("http://app.test/docs/a?x=1&y=2"));
    assert_eq!(up.hits.load(Ordering::SeqCst), 0, "nothing reached the upstream");
    let back = sign_in_at_start(&p.app, &b, &start, "dev", "alma", "alma@example.com", true).await;
    assert_eq!(back, "http://app.test/docs/a?x=1&y=2");

    let (status, echo) = echoed(nav(&p.app, &b, "app.test", "/docs/a/../b//c?x=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo["uri"], "/docs/b/c?x=1", "the path braid checked, normalised");
    assert_eq!(seen(&echo, "host"), ["app.test"]);
    assert_eq!(seen(&echo, "x-auth-request-user"), [p.alma.as_str()]);
    assert_eq!(seen(&echo, "x-auth-request-email"), ["alma@example.com"]);
    assert_eq!(seen(&echo, "x-auth-request-preferred-username"), ["alma"]);
    assert_eq!(seen(&echo, "x-auth-request-idp"), ["urn:braid:dev:dev"]);
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.1"], "the peer: no proxy in front is trusted");
    assert_eq!(seen(&echo, "via"), ["1.1 braid"], "braid names itself on the way in");
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["http"]);
    assert_eq!(seen(&echo, "x-forwarded-host"), ["app.test"]);
    let token = &seen(&echo, "x-braid-assertion")[0];
    let claims = verify_assertion(&p.app.base, token, "https://app.test").await;
    assert_eq!(claims["sub"], p.alma.as_str());
    // Every method passes once signed in, with its body.
    let r = to(&p.app, &b, Method::POST, "app.test", "/form").body("a=1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["method"], "POST");
    // braid's own host and a forward-auth host reach braid's pages, not the upstream.
    let hits = up.hits.load(Ordering::SeqCst);
    for host in [p.app.base.trim_start_matches("http://"), "fa.test"] {
        let r = to(&p.app, &b, Method::GET, host, "/.well-known/openid-configuration").send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["issuer"], p.app.base.as_str(), "{host}");
    }
    assert_eq!(up.hits.load(Ordering::SeqCst), hits);
}

#[tokio::test]
async fn requests_that_are_not_navigations_get_401_and_never_a_redirect() {
    let (p, up) = proxy().await;
    let b = browser();
    for (method, accept, xrw) in [
        (Method::POST, "text/html", false),
        (Method::PUT, "text/html", false),
        (Method::GET, "application/json", false),
        (Method::GET, "*/*", false),
        (Method::GET, "text/html", true),
    ] {
        let mut r = to(&p.app, &b, method.clone(), "app.test", "/api/items").header(ACCEPT, accept);
        if xrw {
            r = r.header("X-Requested-With", "XMLHttpRequest");
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {accept} {xrw}");
    }
    // HEAD is not a navigation (browsers never navigate with it), nor a script's fetch that
    // accepts HTML; a GET the browser marks as a navigation is one.
    let r = to(&p.app, &b, Method::HEAD, "app.test", "/").header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let fetch =
        to(&p.app, &b, Method::GET, "app.test", "/").header(ACCEPT, "text/html").header("Sec-Fetch-Mode", "cors");
    assert_eq!(fetch.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let page =
        to(&p.app, &b, Method::GET, "app.test", "/").header(ACCEPT, "text/html").header("Sec-Fetch-Mode", "navigate");
    assert_eq!(page.send().await.unwrap().status(), StatusCode::FOUND);
    assert_eq!(up.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn public_paths_pass_without_a_session_and_only_they_do() {
    let (p, up) = proxy().await;
    let b = browser();
    for path in ["/healthz", "/healthz/deep?x=1"] {
        let (status, echo) = echoed(to(&p.app, &b, Method::GET, "app.test", path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(seen(&echo, "x-auth-request-user").is_empty() && seen(&echo, "x-braid-assertion").is_empty());
    }
    let hits = up.hits.load(Ordering::SeqCst);
    for path in ["/healthzx", "/healthz/../docs", "/%68ealthz/../admin"] {
        assert_eq!(nav(&p.app, &b, "app.test", path).send().await.unwrap().status(), StatusCode::FOUND, "{path}");
    }
    let r = nav(&p.app, &b, "app.test", "/healthz%2F..%2Fadmin").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an ambiguous path is refused");
    assert_eq!(up.hits.load(Ordering::SeqCst), hits);
}

#[tokio::test]
async fn each_policy_key_allows_and_refuses_through_the_proxy() {
    let (p, up) = proxy().await;
    let status = |b: reqwest::Client, path: &'static str| {
        let app = &p.app;
        async move { nav(app, &b, "app.test", path).send().await.unwrap().status() }
    };
    let alma = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    assert_eq!(status(alma.clone(), "/admin/users").await, StatusCode::OK, "allow_accounts");
    assert_eq!(status(alma.clone(), "/dev2").await, StatusCode::FORBIDDEN, "allow_providers");
    assert_eq!(status(alma.clone(), "/corp").await, StatusCode::FORBIDDEN, "allow_email_domains");
    let bo = signed_in(&p, "dev2", "bo", "bo@corp.example", true).await;
    assert_eq!(status(bo.clone(), "/admin").await, StatusCode::FORBIDDEN, "allow_accounts");
    assert_eq!(status(bo.clone(), "/dev2/x").await, StatusCode::OK, "allow_providers");
    let (code, echo) = echoed(nav(&p.app, &bo, "app.test", "/corp")).await;
    assert_eq!(code, StatusCode::OK, "allow_email_domains");
    verify_assertion(&p.app.base, &seen(&echo, "x-braid-assertion")[0], "urn:corp").await;
    let cy = signed_in(&p, "dev", "cy", "cy@corp.example", false).await;
    let hits = up.hits.load(Ordering::SeqCst);
    let r = nav(&p.app, &cy, "app.test", "/corp").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an unverified email");
    assert!(r.text().await.unwrap().contains("does not allow your account"));
    assert_eq!(up.hits.load(Ordering::SeqCst), hits, "a refusal never reaches the upstream");
}

#[tokio::test]
async fn spoofed_claims_and_braids_cookies_never_reach_the_upstream_while_the_apps_own_do() {
    let (p, _up) = proxy().await;
    let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    let spoofed = nav(&p.app, &b, "app.test", "/docs")
        .header("X-Auth-Request-User", "someone-else")
        .header("X-Auth-Request-Groups", "admins")
        .header("X-Braid-Assertion", "forged")
        .header("X-Braid-Anything", "forged")
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Forwarded-Host", "evil.test")
        .header("Forwarded", "for=203.0.113.9;host=evil.test");
    let r = spoofed.send().await.unwrap();
    assert_eq!(r.headers()["via"], "1.1 braid", "and on the way out");
    let set_cookie: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().into()).collect();
    assert_eq!(
        set_cookie,
        ["app_session=from-app; Path=/; HttpOnly"],
        "the upstream's Set-Cookie reaches the browser, except for braid's cookie"
    );
    let echo: Value = r.json().await.unwrap();
    assert_eq!(seen(&echo, "x-auth-request-user"), [p.alma.as_str()]);
    assert!(seen(&echo, "x-auth-request-groups").is_empty());
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.1"], "the peer: no proxy in front is trusted");
    assert_eq!(seen(&echo, "via"), ["1.1 braid"], "braid names itself on the way in");
    assert_eq!(seen(&echo, "x-forwarded-host"), ["app.test"]);
    assert!(seen(&echo, "forwarded").is_empty() && seen(&echo, "x-braid-anything").is_empty());
    assert_ne!(seen(&echo, "x-braid-assertion"), ["forged"]);
    // The cookie jar now holds braid's session and the application's cookie: only the latter passes.
    let (_, echo) = echoed(nav(&p.app, &b, "app.test", "/docs")).await;
    assert_eq!(seen(&echo, "cookie"), ["app_session=from-app"]);
    assert_eq!(seen(&echo, "x-auth-request-user"), [p.alma.as_str()], "the session still worked");
    // Every name and prefix braid's cookies may have.
    let cookie = "__Host-braid_session=a; __Secure-braid_session=b; braid_login=c; braid_proof=d; \
                  __Host-braid_saml=e; theme=dark";
    let (_, echo) =
        echoed(to(&p.app, &reqwest::Client::new(), Method::GET, "app.test", "/healthz").header(COOKIE, cookie)).await;
    assert_eq!(seen(&echo, "cookie"), ["theme=dark"]);
}

/// Behind a proxy listed in `trusted_proxies`, the upstream is told the client address that
/// proxy forwarded (one address, braid's decision), never the chain a client wrote.
#[tokio::test]
async fn behind_a_trusted_proxy_the_upstream_gets_the_forwarded_client_address() {
    let up = upstream().await;
    let app = format!("http://{}", up.addr);
    let routes = move |_: &str| {
        format!("[[routes]]\nhost = \"app.test\"\nupstream = \"{app}\"\npublic_paths = [\"/healthz\"]\n")
    };
    let p =
        crate::forward_auth::proxied_tweaked(routes, |s| s.server.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let b = reqwest::Client::new();
    let (_, echo) = echoed(
        to(&p.app, &b, Method::GET, "app.test", "/healthz").header("X-Forwarded-For", "198.51.100.7, 203.0.113.9"),
    )
    .await;
    assert_eq!(seen(&echo, "x-forwarded-for"), ["203.0.113.9"], "the hop the trusted proxy saw");
    let (_, echo) = echoed(to(&p.app, &b, Method::GET, "app.test", "/healthz")).await;
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.1"], "without one, the proxy itself");
}

#[tokio::test]
async fn a_websocket_echoes_through_the_proxy_after_sign_in() {
    let (p, _up) = proxy().await;
    let addr = p.app.base.trim_start_matches("http://").to_owned();
    let handshake = |cookie: Option<String>| {
        let addr = addr.clone();
        async move {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            req.headers_mut().insert(HOST, "app.test".parse().unwrap());
            if let Some(c) = cookie {
                req.headers_mut().insert(COOKIE, c.parse().unwrap());
            }
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tokio_tungstenite::client_async(req, tcp).await
        }
    };
    match handshake(None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), StatusCode::UNAUTHORIZED),
        other => panic!("no session: {:?}", other.map(|(_, r)| r.status())),
    }
    let (b, jar) = browser_with_jar();
    sign_in(&p, &b, "dev", "alma", "alma@example.com", true).await;
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &p.app.base.parse().unwrap()).unwrap();
    let (mut ws, resp) = handshake(Some(cookies.to_str().unwrap().to_owned())).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = ws.next().await.unwrap().unwrap();
    assert_eq!(hello.into_text().unwrap().as_str(), format!("hello {}", p.alma.as_str()));
    for text in ["one", "two", &"x".repeat(100_000)] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), text);
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_data().as_ref(), [0u8, 1, 2, 255]);
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_websocket_is_closed_when_its_session_ends() {
    let (p, _up) = proxy().await;
    let addr = p.app.base.trim_start_matches("http://").to_owned();
    let (b, jar) = browser_with_jar();
    sign_in(&p, &b, "dev", "alma", "alma@example.com", true).await;
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &p.app.base.parse().unwrap()).unwrap();
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert(HOST, "app.test".parse().unwrap());
    req.headers_mut().insert(COOKIE, cookies);
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert!(ws.next().await.unwrap().unwrap().into_text().unwrap().starts_with("hello "));
    // While the session stands, the connection outlives its re-checks.
    tokio::time::sleep(braid::proxy::reverse::UPGRADED_RECHECK * 2).await;
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), "still here");
    // An account change ends the account's sessions; braid then closes the WebSocket.
    p.app.state.records.store().end_all(p.alma.as_str(), None).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the WebSocket outlived its session");
}

#[tokio::test]
async fn a_large_body_streams_both_ways() {
    let (p, up) = proxy().await;
    let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    let body = reqwest::Body::wrap_stream(chunks_after(up.upload_began.clone()));
    let r = to(&p.app, &b, Method::POST, "app.test", "/upload").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "bytes": CHUNK * CHUNKS, "ok": true }));
    let mut r = to(&p.app, &b, Method::GET, "app.test", "/download").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (mut n, mut ok) = (0usize, true);
    while let Some(part) = r.chunk().await.unwrap() {
        check_part(&part, &mut n, &mut ok, &up.download_began);
    }
    assert_eq!((n, ok), (CHUNK * CHUNKS, true));
}

#[tokio::test]
async fn an_upstream_that_is_down_gives_a_502_page_and_a_silent_one_a_504_page() {
    let (p, _up) = proxy().await;
    let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    let r = nav(&p.app, &b, "down.test", "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.text().await.unwrap().contains("The application is not answering"));
    // The upstream sleeps far longer than `upstream_timeout_secs`; the client's own limit only
    // keeps a broken proxy from hanging the test.
    let r = nav(&p.app, &b, "app.test", "/slow").timeout(Duration::from_secs(60)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(r.text().await.unwrap().contains("did not answer in time"));
    // A route with its own, longer timeout waits for an upstream that `[proxy]`'s would not.
    let r = nav(&p.app, &b, "app.test", "/patient/late").timeout(Duration::from_secs(60)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "late but fine");
    // An upstream that stops sending mid-body: the response is cut (the client sees the body
    // fail), never held open.
    let r = nav(&p.app, &b, "app.test", "/stall").timeout(Duration::from_secs(60)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the head came");
    let body = r.bytes().await;
    let e = body.expect_err("the body does not complete");
    assert!(!e.is_timeout(), "cut by braid, not by the client's own limit: {e}");
}

#[tokio::test]
async fn unlinking_disabling_or_merging_ends_access_on_the_next_request() {
    let (p, up) = proxy().await;
    let admin = Actor::admin("test");
    let usable = braid::accounts::SignInProviders::new(["dev", "dev2"]);
    p.app.state.accounts.link(&p.alma, "dev2", &crate::forward_auth::ext("dev2", "alma2"), &admin, 0).await.unwrap();
    let b = signed_in(&p, "dev2", "alma2", "", false).await;
    assert_eq!(nav(&p.app, &b, "app.test", "/admin").send().await.unwrap().status(), StatusCode::OK);
    let second = p.app.state.accounts.find_identity("urn:braid:dev:dev2", "alma2").await.unwrap().unwrap();
    p.app.state.accounts.unlink(&p.alma, second.id, &usable, &admin, 0).await.unwrap().unwrap();
    let hits = up.hits.load(Ordering::SeqCst);
    assert_eq!(nav(&p.app, &b, "app.test", "/admin").send().await.unwrap().status(), StatusCode::FOUND);
    assert_eq!(
        to(&p.app, &b, Method::POST, "app.test", "/admin").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let b = signed_in(&p, "dev", "dora", "dora@example.com", true).await;
    assert_eq!(nav(&p.app, &b, "app.test", "/docs").send().await.unwrap().status(), StatusCode::OK);
    let dora = p.app.state.accounts.find_identity("urn:braid:dev:dev", "dora").await.unwrap().unwrap().account_id;
    p.app.state.accounts.set_disabled(&dora, true, &admin, 0).await.unwrap().unwrap();
    let hits_after_dora = up.hits.load(Ordering::SeqCst);
    assert_eq!(hits_after_dora, hits + 1);
    assert_eq!(nav(&p.app, &b, "app.test", "/docs").send().await.unwrap().status(), StatusCode::FOUND);
    assert_eq!(up.hits.load(Ordering::SeqCst), hits_after_dora);

    // A merged account: its sessions end with it; signing in again with its identity lands on
    // the account it was merged into, which the upstream then sees.
    let b = signed_in(&p, "dev", "enzo", "enzo@example.com", true).await;
    assert_eq!(nav(&p.app, &b, "app.test", "/docs").send().await.unwrap().status(), StatusCode::OK);
    let enzo = p.app.state.accounts.find_identity("urn:braid:dev:dev", "enzo").await.unwrap().unwrap().account_id;
    p.app.state.accounts.merge(&enzo, &p.alma, &admin, 0).await.unwrap().unwrap();
    let hits_before = up.hits.load(Ordering::SeqCst);
    assert_eq!(nav(&p.app, &b, "app.test", "/docs").send().await.unwrap().status(), StatusCode::FOUND);
    assert_eq!(up.hits.load(Ordering::SeqCst), hits_before, "nothing reached the upstream");
    let b = signed_in(&p, "dev", "enzo", "", false).await;
    let (status, echo) = echoed(nav(&p.app, &b, "app.test", "/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen(&echo, "x-auth-request-user"), [p.alma.as_str()], "the merged-into account, never the old id");
}

#[test]
fn braid_check_refuses_proxying_braids_own_host_and_names_each_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    std::fs::write(
        dir.path().join("braid.toml"),
        "[server]\npublic_url = \"https://auth.example\"\n\
         [[routes]]\nhost = \"auth.example\"\nupstream = \"http://127.0.0.1:9000\"\n\
         [[routes]]\nhost = \"app.example\"\nupstream = \"https://user@127.0.0.1:9443\"\n\
         [[routes]]\nhost = \"app.example\"\npath_prefix = \"/fa\"\n\
         [proxy]\nupstream_timeout_secs = 0\nupstream_ca_file = \"missing-ca.pem\"\n",
    )
    .unwrap();
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    for want in [
        "key `routes[0].host`: `auth.example` is braid's own host",
        "key `routes[1].upstream`: `https://user@127.0.0.1:9443` must be an http(s) URL",
        "key `routes[2].upstream`: host `app.example` has routes with and without `upstream`",
        "key `proxy.upstream_timeout_secs`: must be between 1 and 3600",
        "key `proxy.upstream_ca_file`: `missing-ca.pem`",
    ] {
        assert!(e.contains(want), "{want} in {e}");
    }
}

#[tokio::test]
async fn the_upstream_sees_the_host_whose_policy_was_applied_and_ambiguous_paths_are_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (p, _up) = proxy().await;
    // An absolute-form request line names app.test (its public path); a second Host names
    // another site. The upstream must see app.test only.
    let addr = p.app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"GET http://app.test/healthz HTTP/1.1\r\nHost: other.test\r\nX_Auth_Request_User: admin\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let json = body.find('{').map(|i| &body[i..body.rfind('}').unwrap_or(body.len() - 1) + 1]).unwrap_or("{}");
    let echo: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(seen(&echo, "host"), ["app.test"], "{text}");
    assert!(seen(&echo, "x-auth-request-user").is_empty() && seen(&echo, "x_auth_request_user").is_empty(), "{text}");
    // Path parameters a Java server would strip (`/healthz/..;/admin` = /admin there): refused.
    let r = nav(&p.app, &browser(), "app.test", "/healthz/..;/admin").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_session_record_rewritten_in_the_store_is_read_again_at_the_next_request() {
    // The proxy reuses a decoded session only while the store holds the same bytes for it.
    let (p, _up) = proxy().await;
    let (b, jar) = browser_with_jar();
    sign_in(&p, &b, "dev", "alma", "alma@example.com", true).await;
    let (status, echo) = echoed(nav(&p.app, &b, "app.test", "/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen(&echo, "x-auth-request-idp"), ["urn:braid:dev:dev"]);
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &p.app.base.parse().unwrap()).unwrap();
    let sid = cookies.to_str().unwrap().split("braid_session=").nth(1).unwrap().split(';').next().unwrap().to_owned();
    let key = braid::records::key::session(&sid);
    let store = p.app.state.records.store();
    let mut record: Value = serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    record["idp"] = json!("urn:braid:dev:rewritten");
    store.put(&key, &serde_json::to_vec(&record).unwrap(), Duration::from_secs(600)).await.unwrap();
    let (status, echo) = echoed(nav(&p.app, &b, "app.test", "/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        seen(&echo, "x-auth-request-idp"),
        ["urn:braid:dev:rewritten"],
        "the new record, not the one decoded before"
    );
    store.delete(&key).await.unwrap();
    assert_eq!(nav(&p.app, &b, "app.test", "/docs").send().await.unwrap().status(), StatusCode::FOUND);
}

#[tokio::test]
async fn requests_on_one_connection_are_each_judged_by_the_cookie_they_send() {
    // A connection remembers its last cookie and identity headers (`proxy::recall`): a request
    // that sends another cookie, or none, is read afresh, and a session ended meanwhile is found
    // ended although its cookie is the one remembered.
    let (p, _up) = proxy().await;
    let cookie_of = |jar: &reqwest::cookie::Jar| {
        let all = reqwest::cookie::CookieStore::cookies(jar, &p.app.base.parse().unwrap()).unwrap();
        let sid = all.to_str().unwrap().split("braid_session=").nth(1).unwrap().split(';').next().unwrap().to_owned();
        (format!("braid_session={sid}"), sid)
    };
    let (a, jar) = browser_with_jar();
    sign_in(&p, &a, "dev", "alma", "alma@example.com", true).await;
    let (alma, _) = cookie_of(&jar);
    let (d, jar) = browser_with_jar();
    sign_in(&p, &d, "dev", "dora", "dora@example.com", true).await;
    let (dora, dora_sid) = cookie_of(&jar);
    let dora_id = p.app.state.accounts.find_identity("urn:braid:dev:dev", "dora").await.unwrap().unwrap().account_id;

    let tcp = tokio::net::TcpStream::connect(p.app.base.trim_start_matches("http://")).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let with_app_cookie = format!("app=1; {alma}");
    // (the cookie sent, the status, the account the upstream is told of, the cookie it gets)
    let steps = [
        (Some(&alma), StatusCode::OK, Some(p.alma.as_str()), None),
        (Some(&dora), StatusCode::OK, Some(dora_id.as_str()), None),
        (Some(&with_app_cookie), StatusCode::OK, Some(p.alma.as_str()), Some("app=1")),
        (Some(&alma), StatusCode::OK, Some(p.alma.as_str()), None),
        (None, StatusCode::UNAUTHORIZED, None, None),
        (Some(&dora), StatusCode::OK, Some(dora_id.as_str()), None),
    ];
    let mut send_to = async |host: &str, cookie: Option<&str>| {
        let mut req = hyper::Request::get("/docs").header(HOST, host);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let resp = tx.send_request(req.body(String::new()).unwrap()).await.unwrap();
        let status = resp.status();
        let (mut body, mut bytes) = (resp.into_body(), Vec::new());
        while let Some(frame) =
            std::future::poll_fn(|cx| http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
    };
    for (i, (cookie, status, user, app_cookie)) in steps.into_iter().enumerate() {
        let (got, echo) = send_to("app.test", cookie.map(String::as_str)).await;
        assert_eq!(got, status, "request {i}");
        assert_eq!(seen(&echo, "x-auth-request-user"), user.into_iter().collect::<Vec<_>>(), "request {i}");
        assert_eq!(seen(&echo, "cookie"), app_cookie.into_iter().collect::<Vec<_>>(), "request {i}");
    }
    // The connection remembers its last host too: each host is still judged as itself.
    let own = p.app.base.trim_start_matches("http://").to_owned();
    for (host, status) in [(own.as_str(), 404), ("down.test", 502), ("app.test", 200), (own.as_str(), 404)] {
        assert_eq!(send_to(host, Some(&alma)).await.0, status, "{host}");
    }
    // dora's session ends elsewhere: the same cookie on the same connection no longer passes.
    p.app.state.records.store().delete(&braid::records::key::session(&dora_sid)).await.unwrap();
    assert_eq!(send_to("app.test", Some(&dora)).await.0, StatusCode::UNAUTHORIZED);
    // alma's primary identity changes: the next request on the connection tells the upstream
    // the new primary's (absent) email, not the remembered headers.
    let (_, echo) = send_to("app.test", Some(&alma)).await;
    assert_eq!(seen(&echo, "x-auth-request-email"), ["alma@example.com"]);
    let (admin, usable) = (Actor::admin("test"), braid::accounts::SignInProviders::new(["dev", "dev2"]));
    let accounts = &p.app.state.accounts;
    accounts.link(&p.alma, "dev2", &crate::forward_auth::ext("dev2", "alma2"), &admin, 0).await.unwrap();
    let second = accounts.find_identity("urn:braid:dev:dev2", "alma2").await.unwrap().unwrap();
    accounts.update_identity(&p.alma, second.id, None, true, &usable, &admin, 0).await.unwrap().unwrap();
    let (status, echo) = send_to("app.test", Some(&alma)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen(&echo, "x-auth-request-user"), [p.alma.as_str()]);
    assert!(seen(&echo, "x-auth-request-email").is_empty(), "{echo}");
}
