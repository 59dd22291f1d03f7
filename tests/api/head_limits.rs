//! The HTTP/1 buffer limit of braid's connections (`serve::HTTP1_BUFFER`, 64 KiB): a request
//! head well under it reaches braid's pages and, through the proxy, the upstream whole; one
//! well over it (hyper checks the limit between reads, so a head a little over it may pass)
//! is refused with 431 and never reaches the upstream; an upstream whose response head is that
//! large gets the 502 page, not a hang. hyper's default limit (about 400 KiB) let both pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::HOST;

use crate::forward_auth::proxied_with;

/// A header value of `n` bytes.
fn big(n: usize) -> String {
    "a".repeat(n)
}

/// An upstream that tells the length of the `x-big` header it got, and at `/huge-head` answers
/// with a 200 KiB header; with its count of requests.
async fn upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let app = axum::Router::new()
        .route(
            "/huge-head",
            get(move || async move {
                h1.fetch_add(1, Ordering::SeqCst);
                let mut h = HeaderMap::new();
                h.insert("x-huge", HeaderValue::from_str(&big(200 * 1024)).unwrap());
                (h, "never seen").into_response()
            }),
        )
        .fallback(move |headers: HeaderMap| async move {
            h2.fetch_add(1, Ordering::SeqCst);
            headers.get("x-big").map_or(0, |v| v.len()).to_string()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

#[tokio::test]
async fn a_request_head_far_over_64_kib_gets_431_and_an_upstreams_502() {
    let (addr, hits) = upstream().await;
    let p = proxied_with(|_| {
        format!("[[routes]]\nhost = \"app.test\"\nupstream = \"http://{addr}\"\npublic_paths = [\"/\"]\n")
    })
    .await;
    let app = &p.app;
    let b = reqwest::Client::new();

    // braid's own pages: 40 KiB of header pass, 200 KiB are refused.
    let r = b.get(app.url("/healthz")).header("x-big", big(40 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = b.get(app.url("/healthz")).header("x-big", big(200 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // Through the proxy: 40 KiB reach the upstream whole.
    let r = b.get(app.url("/echo")).header(HOST, "app.test").header("x-big", big(40 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), (40 * 1024).to_string());
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // 200 KiB never reach it.
    let r = b.get(app.url("/echo")).header(HOST, "app.test").header("x-big", big(200 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "an oversized request head reached the upstream");

    // An upstream's oversized response head: the 502 page, and braid goes on serving.
    let r = b.get(app.url("/huge-head")).header(HOST, "app.test").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("not answering"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let r = b.get(app.url("/echo")).header(HOST, "app.test").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "0");
}
