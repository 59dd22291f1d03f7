//! A bare reverse proxy on hyper 1, for the per-core bench only: hyper's HTTP/1 server and
//! client and nothing else (no decision, no header rewriting, no timeouts, no metrics, one
//! upstream connection per client connection, one thread). What a proxy built on hyper can reach
//! on the machine, measured beside braid's proxy and nginx's `proxy_pass`.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// `--bare-proxy <port> <upstream port>`, when given.
pub fn asked() -> Option<(u16, u16)> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--bare-proxy")?;
    Some((args.get(i + 1)?.parse().ok()?, args.get(i + 2)?.parse().ok()?))
}

/// Serve on `port` until killed, passing every request to `upstream` (both on loopback), on a
/// thread of its own with a single-threaded runtime (as braid runs on one core).
pub fn run(port: u16, upstream: u16) {
    let serve = move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return eprintln!("bare proxy: {e}"),
        };
        rt.block_on(accept(port, upstream));
    };
    if let Err(e) = std::thread::spawn(serve).join() {
        eprintln!("bare proxy: {e:?}");
    }
}

async fn accept(port: u16, upstream: u16) {
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => return eprintln!("bare proxy: {e}"),
    };
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(connection(client, upstream));
            }
            // Out of descriptors, say: wait rather than spin on the measured core.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

/// One client connection, with its own upstream connection.
async fn connection(client: TcpStream, upstream: u16) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    let _ = (client.set_nodelay(true), up.set_nodelay(true));
    let Ok((tx, conn)) = hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(up)).await else {
        return;
    };
    tokio::spawn(conn);
    let tx: Arc<tokio::sync::Mutex<SendRequest<Incoming>>> = Arc::new(tokio::sync::Mutex::new(tx));
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let tx = tx.clone();
        async move {
            // The one hop-by-hop header a keep-alive client sends.
            req.headers_mut().remove(header::CONNECTION);
            let mut tx = tx.lock().await;
            tx.ready().await?;
            tx.send_request(req).await
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(client), service).await;
}
