//! Graceful shutdown: once stopping begins, readiness turns false and new connections are
//! refused, while a request already in flight still gets its answer.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[tokio::test]
async fn an_in_flight_request_finishes_during_shutdown() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let state = app.state.clone();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = "grant_type=authorization_code&code=nope&redirect_uri=x&client_id=spa";
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(state.is_draining(), "readiness is false once shutdown begins");
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err(), "no new connections");

    conn.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "the in-flight request was answered: {resp}");
    assert!(resp.contains("invalid_grant"), "{resp}");
    tokio::time::timeout(Duration::from_secs(10), stopping).await.expect("drain finishes").unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_once_when_shutdown_begins() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));

    // The connection now idles between requests: shutdown closes it rather than waiting out
    // the 30 s grace for it.
    let stopping = tokio::spawn(app.stop());
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "the idle connection is closed, unanswered: {read:?} {rest:?}");
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("drain finishes at once").unwrap();
}

#[tokio::test]
async fn a_connection_opened_just_before_shutdown_is_served_or_closed_never_left_hanging() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let stopping = tokio::spawn(app.stop());
    for mut conn in conns {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(_))), "each connection is closed: {read:?}");
    }
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("drain finishes at once").unwrap();
}
