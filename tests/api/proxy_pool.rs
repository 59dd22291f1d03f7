//! braid's proxy keeps its connections to an upstream open and reuses them, but never one that
//! could mix two answers or hold a request up: a connection whose response said `Connection:
//! close`, whose response body was dropped halfway, whose request body is still being sent, or
//! that the upstream closed as a request arrived (an idempotent request then goes on a new
//! connection, never a 502). The upstreams here say which connection (the client port) each
//! request came on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::HOST;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::forward_auth::{Proxied, proxied_with};
use crate::helpers::*;

/// braid with a public route of host `app.test` to `upstream`.
async fn proxy_to(upstream: SocketAddr) -> Proxied {
    proxied_with(|_| {
        format!("[[routes]]\nhost = \"app.test\"\nupstream = \"http://{upstream}\"\npublic_paths = [\"/\"]\n")
    })
    .await
}

async fn get_via(p: &Proxied, b: &reqwest::Client, path: &str) -> reqwest::Response {
    b.get(p.app.url(path)).header(HOST, "app.test").send().await.unwrap()
}

/// The client port the upstream saw for a request to `path`.
async fn port_of(p: &Proxied, b: &reqwest::Client, path: &str) -> u16 {
    let r = get_via(p, b, path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap().split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn connections_are_reused_but_never_after_connection_close_or_a_body_cut_short() {
    let app = axum::Router::new()
        .route(
            "/close",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                ([(CONNECTION, "close")], peer.port().to_string())
            }),
        )
        .route(
            "/big",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                format!("{} {}", peer.port(), "x".repeat(4 << 20))
            }),
        )
        .fallback(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.port().to_string().into_response() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    let p = proxy_to(addr).await;
    let b = browser();

    let first = port_of(&p, &b, "/a").await;
    for _ in 0..5 {
        assert_eq!(port_of(&p, &b, "/a").await, first, "one connection, reused");
    }
    assert_eq!(port_of(&p, &b, "/close").await, first);
    let after_close = port_of(&p, &b, "/a").await;
    assert_ne!(after_close, first, "the connection the upstream closed is not reused");

    // A client that reads a little of a large body and leaves: that connection still has the
    // rest of the body in it and must not carry another request.
    let mut r = get_via(&p, &b, "/big").await;
    let head = r.chunk().await.unwrap().unwrap();
    let big: u16 = String::from_utf8_lossy(&head).split(' ').next().unwrap().parse().unwrap();
    assert_eq!(big, after_close);
    drop(r);
    let fresh = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut ports = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let port = port_of(&p, &fresh, "/a").await;
        assert_ne!(port, big, "a connection whose body was cut short carried another request");
        ports.push(port);
    }
    assert!(ports.windows(2).all(|w| w[0] == w[1]), "the new connection is reused: {ports:?}");
}

#[tokio::test]
async fn a_request_on_an_idle_connection_the_upstream_closes_is_sent_again_when_it_may_be() {
    // Each connection answers its first request, keep-alive and all, and is closed as its second
    // request arrives: an upstream whose keep-alive timeout runs out at that moment.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, peer) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                for round in 0..2 {
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => got.extend_from_slice(&buf[..k]),
                        }
                    }
                    if round == 1 {
                        return; // closed unanswered
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = peer.port().to_string();
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    let _ = sock.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    let p = proxy_to(addr).await;
    let b = browser();
    let mut ports = Vec::new();
    for _ in 0..3 {
        ports.push(port_of(&p, &b, "/a").await);
        tokio::time::sleep(braid::proxy::upstream::REPLAY_AFTER_IDLE + Duration::from_millis(100)).await;
    }
    ports.dedup();
    assert_eq!(ports.len(), 3, "each GET after the close went on a new connection: {ports:?}");
    assert_eq!(answered.load(Ordering::SeqCst), 3);
    // A request that must not reach the upstream twice is not sent again: a 502, as the upstream
    // may have acted on it.
    let r = b.post(p.app.url("/a")).header(HOST, "app.test").body("once").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(answered.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_whose_upload_is_still_under_way_carries_no_other_request() {
    // The upstream answers each request as soon as its head arrives, before reading its body,
    // and keeps the connection open (as an early 413 could); the client keeps its upload open.
    // That connection is still busy with the body: the next request must go on another one,
    // not wait behind it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, peer) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    // A request line in what came (the upload's bytes are all `x`).
                    if buf[..n].windows(10).any(|w| w == b"HTTP/1.1\r\n") {
                        let body = peer.port().to_string();
                        let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let p = proxy_to(addr).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(vec![b'x'; 64 * 1024])).await.unwrap();
    let uploader = browser();
    let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
    let r = uploader.post(p.app.url("/upload")).header(HOST, "app.test").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let busy: u16 = r.text().await.unwrap().parse().unwrap();
    let other = browser();
    let r = tokio::time::timeout(Duration::from_secs(10), get_via(&p, &other, "/a"))
        .await
        .expect("held up behind the upload");
    assert_eq!(r.status(), StatusCode::OK);
    let port: u16 = r.text().await.unwrap().parse().unwrap();
    assert_ne!(port, busy, "the request went on the connection still carrying an upload");
    drop(tx);
}

/// The items of `rx` as a stream.
fn tokio_stream_of<T: Send + 'static>(rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
