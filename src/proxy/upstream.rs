//! Connections from braid's proxy to the routes' upstreams: HTTP/1.1 connections (plain TCP or
//! TLS, `proxy::tls`) kept open and reused, one pool per upstream origin, found by the route
//! without hashing anything. A connection goes back to its pool only after its response body
//! was read to the end (a body cut short, or a `101 Switching Protocols`, ends it); a pooled
//! connection that the upstream closed meanwhile is skipped, and a request it could not take is
//! sent again on a new connection: always when it never left braid, and when it did, if it is
//! idempotent, has no body and the connection had idled for [`REPLAY_AFTER_IDLE`] (the
//! upstream's keep-alive timeout ran out as the request arrived).
//! A connection goes back only when the request's body was sent in full, too (an upstream
//! may answer an upload early). Pooled connections idle longer than [`IDLE_FOR`] are closed
//! when braid next takes a connection for, or returns one to, that upstream.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Response, StatusCode, Uri};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use tower_service::Service;

use super::bodies::Upload;
use super::table::{Route, RouteTable};
use super::timeouts::Activity;

/// How long a pooled connection may sit idle before braid closes it (an upstream usually closes
/// idle keep-alive connections after about a minute itself).
pub const IDLE_FOR: Duration = Duration::from_secs(60);

/// A connection idle this long may have been closed by its upstream just as a request arrives
/// on it: an idempotent request without a body sent on it is kept, to be sent again on a new
/// connection if that happens. (Busy connections are not at risk, and the copy is not free.)
pub const REPLAY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// At most this many idle connections are kept per upstream; more are closed.
const MAX_IDLE: usize = 256;

/// Why a request did not get a response head from its upstream.
#[derive(Debug)]
pub enum Failed {
    /// No connection could be made (refused, unreachable, TLS, connect timeout).
    Connect(String),
    /// The connection failed while the request was sent or the answer read.
    Upstream(hyper::Error),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Upstream(e) => write!(f, "{e}"),
        }
    }
}

/// The idle connections to one upstream origin.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<(SendRequest<Upload>, Instant)>>,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<(SendRequest<Upload>, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle connection that is still open, and how long it had been
    /// idle at `now`.
    fn take(&self, now: Instant) -> Option<(SendRequest<Upload>, Duration)> {
        let mut idle = self.lock();
        while let Some((tx, since)) = idle.pop() {
            let idled = now.duration_since(since);
            if !tx.is_closed() && idled < IDLE_FOR {
                return Some((tx, idled));
            }
        }
        None
    }

    fn put(&self, tx: SendRequest<Upload>) {
        if tx.is_closed() {
            return;
        }
        let now = Instant::now();
        let stale =
            |(tx, since): &(SendRequest<Upload>, Instant)| tx.is_closed() || now.duration_since(*since) >= IDLE_FOR;
        let mut idle = self.lock();
        // The oldest idle connection goes first: when it is stale, the stale ones are swept.
        if idle.first().is_some_and(stale) {
            idle.retain(|c| !stale(c));
        }
        if idle.len() < MAX_IDLE {
            idle.push((tx, now));
        }
    }
}

/// The upstream origins of braid's routes, each with its pool.
pub struct Upstreams {
    connector: HttpsConnector<HttpConnector>,
    /// Each proxied route, with its upstream's origin (`scheme://authority`) and pool; routes
    /// with the same origin share one.
    routes: Vec<(Arc<Route>, Uri, Arc<Pool>)>,
}

impl Upstreams {
    /// Pools for the upstreams of `table`'s routes, connecting through `connector`.
    pub fn new(connector: HttpsConnector<HttpConnector>, table: &RouteTable) -> Self {
        let mut routes: Vec<(Arc<Route>, Uri, Arc<Pool>)> = Vec::new();
        for route in table.routes() {
            let Some(origin) =
                route.upstream.as_ref().and_then(|u| Uri::try_from(&u[..url::Position::BeforePath]).ok())
            else {
                continue;
            };
            let pool = routes.iter().find(|(_, o, _)| *o == origin).map_or_else(Arc::default, |(_, _, p)| p.clone());
            routes.push((route.clone(), origin, pool));
        }
        Self { connector, routes }
    }

    /// Send `req` (its URI in origin form: path and query) to `route`'s upstream; the response
    /// body hands its connection back to the pool once read to the end.
    /// `activity` tells whether the request body has all been sent: a connection whose request
    /// body did not end carries no other request.
    ///
    /// An `async move` block rather than an `async fn`, which would keep the request twice in
    /// the future every proxied request carries.
    #[expect(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice")]
    pub fn send(
        &self,
        route: &Arc<Route>,
        mut req: Request<Upload>,
        activity: Arc<Activity>,
    ) -> impl Future<Output = Result<Response<Pooled>, Failed>> + Send {
        async move {
            let Some((_, origin, pool)) = self.routes.iter().find(|(r, _, _)| Arc::ptr_eq(r, route)) else {
                return Err(Failed::Connect("the route has no upstream".into()));
            };
            let mut replay = None;
            // The activity began as the request was handed over, a moment ago: it stands for now.
            while let Some((mut tx, idled)) = pool.take(activity.start()) {
                if tx.ready().await.is_err() {
                    continue;
                }
                // On a connection that sat idle, a request that may be sent twice keeps a copy in
                // case the upstream closes the connection as it arrives (its keep-alive timeout ran
                // out at that moment).
                if idled >= REPLAY_AFTER_IDLE {
                    replay = replay.or_else(|| replayable(&req));
                }
                match tx.try_send_request(req).await {
                    Ok(resp) => return Ok(pooled(resp, tx, pool, activity)),
                    Err(mut e) => match (e.take_message(), replay.take()) {
                        // The connection closed before the request left: it goes on another one.
                        (Some(unsent), _) => req = unsent,
                        (None, Some(copy)) => {
                            tracing::debug!(error = %e.error(), "pooled upstream connection failed; the request is sent again");
                            req = *copy;
                            break;
                        }
                        (None, None) => return Err(Failed::Upstream(e.into_error())),
                    },
                }
            }
            // Boxed: the connect future is large and rarely needed; inline, every request would move it.
            let mut tx = Box::pin(self.connect(origin)).await?;
            let resp = tx.send_request(req).await.map_err(Failed::Upstream)?;
            Ok(pooled(resp, tx, pool, activity))
        }
    }

    /// A new connection to `origin`, served by a task of its own (which also carries an upgraded
    /// connection on).
    async fn connect(&self, origin: &Uri) -> Result<SendRequest<Upload>, Failed> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await.map_err(|e| Failed::Connect(e.to_string()))?;
        let io = connector.call(origin.clone()).await.map_err(|e| Failed::Connect(e.to_string()))?;
        // One buffer and one `send` per request written, as on braid's listener (`crate::serve`).
        let (tx, conn) = http1::Builder::new()
            .writev(false)
            .max_buf_size(crate::serve::HTTP1_BUFFER)
            .handshake(io)
            .await
            .map_err(Failed::Upstream)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(tx)
    }
}

/// A copy of `req` to send again when a reused connection fails under it: only an idempotent
/// request (RFC 9110 §9.2.2) without a body, which the upstream may receive twice. Boxed: it is
/// rarely made, and inline it would enlarge every proxied request's future.
fn replayable(req: &Request<Upload>) -> Option<Box<Request<Upload>>> {
    use axum::http::Method;
    let idempotent = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE, Method::PUT, Method::DELETE];
    if !idempotent.contains(req.method()) || !req.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(Upload::Empty);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(Box::new(copy))
}

/// `resp` with a body that returns `tx` to `pool` once read to the end; a `101` keeps its
/// connection out of the pool (it is handed over to the upgrade).
fn pooled(
    resp: Response<Incoming>,
    tx: SendRequest<Upload>,
    pool: &Arc<Pool>,
    activity: Arc<Activity>,
) -> Response<Pooled> {
    let back = (resp.status() != StatusCode::SWITCHING_PROTOCOLS).then(|| (tx, pool.clone()));
    resp.map(|inner| Pooled { inner, back, activity })
}

/// An upstream's response body that hands its connection back when it has been read to the end.
pub struct Pooled {
    inner: Incoming,
    back: Option<(SendRequest<Upload>, Arc<Pool>)>,
    /// The request's: an upstream that answered before the whole request body came (an early
    /// 413) leaves a connection that is not free.
    activity: Arc<Activity>,
}

impl Pooled {
    fn give_back(&mut self) {
        if let Some((tx, pool)) = self.back.take() {
            if self.activity.request_sent() {
                pool.put(tx);
            }
        }
    }
}

impl HttpBody for Pooled {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // A server stops polling a body whose length says it is complete: read to the end all
        // the same. A body dropped halfway ends its connection.
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}
