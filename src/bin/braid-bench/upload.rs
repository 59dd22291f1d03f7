//! 1 GiB through braid's proxy each way, with braid's memory watched: a signed-in upload to an
//! upstream that counts what it receives, and a download the upstream generates. Bodies stream,
//! so braid's resident memory should not grow with the body; the phase prints its peak before
//! and after, and the rate.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::pinned::{self, Braid};

/// How much goes each way.
const TOTAL: u64 = 1 << 30;
/// The size of each chunk sent.
const CHUNK: usize = 64 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// A body of `left` zero bytes, in chunks of [`CHUNK`].
struct Generated {
    left: u64,
}

impl HttpBody for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left.min(CHUNK as u64)).unwrap_or(CHUNK);
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// Read `body` to its end; how many bytes it held.
async fn drain<B: HttpBody + Unpin>(mut body: B) -> Result<u64, String>
where
    B::Data: hyper::body::Buf,
    B::Error: std::fmt::Display,
{
    let mut n = 0u64;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            n += hyper::body::Buf::remaining(data) as u64;
        }
    }
    Ok(n)
}

/// The whole (small) body as text.
async fn text<B: HttpBody + Unpin>(mut body: B) -> Result<String, String>
where
    B::Data: hyper::body::Buf,
    B::Error: std::fmt::Display,
{
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(mut data) = frame.map_err(|e| e.to_string())?.into_data() {
            while hyper::body::Buf::has_remaining(&data) {
                let chunk = hyper::body::Buf::chunk(&data).to_vec();
                hyper::body::Buf::advance(&mut data, chunk.len());
                out.extend(chunk);
            }
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The upstream: `POST /upload` counts the body, `GET /download` sends [`TOTAL`] bytes.
async fn upstream() -> Result<u16, String> {
    let app = axum::Router::new()
        .route("/upload", axum::routing::post(|body: Body| async move { drain(body).await.unwrap_or(0).to_string() }))
        .route("/download", axum::routing::get(|| async { Body::new(Generated { left: TOTAL }) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

/// A process's resident set (`VmRSS`) and its peak (`VmHWM`), in MiB.
fn memory(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kib: f64 = status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Run the phase (braid pinned as in the per-core phases, memory sessions).
pub async fn run(http: &reqwest::Client, dir: &Path) {
    let name = "proxy 1 GiB";
    let result = async {
        let up = upstream().await?;
        let port = pinned::free_port()?;
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\naccounts = \"sqlite://{}\"\nsessions = \"memory\"\n\
             [keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n[log]\nlevel = \"error\"\n\
             [[routes]]\nhost = \"upload.bench\"\nupstream = \"http://127.0.0.1:{up}\"\n",
            dir.join("upload.db").display(),
            dir.join("keys").display(),
            dir.join("providers").display()
        );
        let braid = Braid::start(dir, "upload", &toml, port)?;
        let cookie = crate::session_cookie(http, &braid.base, "upload").await?;
        let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let request = |method: &str, path: &str, body: Body| {
            axum::http::Request::builder()
                .method(method)
                .uri(format!("{}{path}", braid.base))
                .header("host", "upload.bench")
                .header("cookie", cookie.as_str())
                .header("accept", "text/html")
                .body(body)
                .map_err(|e| e.to_string())
        };
        let before = memory(braid.pid()).ok_or("no /proc status")?;
        let started = Instant::now();
        let resp = client
            .request(request("POST", "/upload", Body::new(Generated { left: TOTAL }))?)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let answer = text(resp.into_body()).await?;
        let up_secs = started.elapsed().as_secs_f64();
        if !status.is_success() || answer != TOTAL.to_string() {
            return Err(format!("upload answered {status}: {answer} bytes reached the upstream"));
        }
        let after_up = memory(braid.pid()).ok_or("no /proc status")?;
        let started = Instant::now();
        let resp = client.request(request("GET", "/download", Body::empty())?).await.map_err(|e| e.to_string())?;
        let got = drain(resp.into_body()).await?;
        let down_secs = started.elapsed().as_secs_f64();
        let after_down = memory(braid.pid()).ok_or("no /proc status")?;
        if got != TOTAL {
            return Err(format!("the download brought {got} bytes"));
        }
        Ok::<_, String>((before, after_up, after_down, up_secs, down_secs, answer))
    }
    .await;
    match result {
        Ok((before, up, down, up_secs, down_secs, answer)) => {
            let mib = TOTAL as f64 / (1024.0 * 1024.0);
            println!("{name:<28} {answer} bytes reached the upstream, {TOTAL} came back");
            println!(
                "{:<28} up {:.0} MiB/s, down {:.0} MiB/s; braid RSS {:.1} MiB before, {:.1} after up, {:.1} after down; peak {:.1} -> {:.1} MiB",
                name,
                mib / up_secs,
                mib / down_secs,
                before.0,
                up.0,
                down.0,
                before.1,
                down.1
            );
        }
        Err(e) => println!("{name:<28} failed: {e}"),
    }
}
