//! The HTTP timing layer: every request braid answers is timed into
//! `braid_http_request_seconds{route,status}`, where `route` is the matched route template
//! (`/login/{provider}`), `unmatched` for paths no route matches, or `proxy` for requests braid's
//! reverse proxy forwards; never the raw path.
//!
//! Cheap on the hot path, because `/auth/verify` answers in microseconds: [`TimeLayer`] is a
//! plain tower layer (no boxed future, no cloned router, nothing put on the response) applied to
//! each route of braid's router outside its other layers, where axum has already put the
//! `MatchedPath` on the request; and each worker thread keeps its own map from route template to
//! histogram handles, under a cheap hash, so after the first request of a kind no lock is taken
//! and no label is built: recording is an atomic push.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response, StatusCode};
use metrics::Histogram;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The `route` label of requests braid's reverse proxy forwards (or refuses).
pub const PROXY: &str = "proxy";
/// The `route` label of requests no route matches.
pub const UNMATCHED: &str = "unmatched";

/// FNV-1a: route templates are short, fixed strings chosen by braid, so the hash needs neither
/// SipHash's resistance to chosen keys nor its cost.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Histogram handles of one thread: by route label, then by status code.
type Handles = HashMap<Box<str>, Vec<(u16, Histogram)>, BuildHasherDefault<Fnv>>;

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::new(HashMap::default());
    /// The proxy's handles by status, apart: found without hashing the route label.
    static PROXY_HANDLES: RefCell<Vec<(u16, Histogram)>> = const { RefCell::new(Vec::new()) };
}

/// Record one request braid's reverse proxy answered (route label [`PROXY`]) with `status`
/// after `seconds`.
pub fn record_proxy(status: StatusCode, seconds: f64) {
    PROXY_HANDLES.with(|cell| record_in(&mut cell.borrow_mut(), PROXY, status, seconds));
}

/// Record one request of `route` that ended with `status` after `seconds`.
pub fn record(route: &str, status: StatusCode, seconds: f64) {
    HANDLES.with(|cell| {
        let mut map = cell.borrow_mut();
        match map.get_mut(route) {
            Some(by_status) => record_in(by_status, route, status, seconds),
            None => record_in(map.entry(route.into()).or_default(), route, status, seconds),
        }
    });
}

/// Record into the handle for `status` among `route`'s, registering it the first time.
fn record_in(by_status: &mut Vec<(u16, Histogram)>, route: &str, status: StatusCode, seconds: f64) {
    let code = status.as_u16();
    if let Some((_, h)) = by_status.iter().find(|(c, _)| *c == code) {
        h.record(seconds);
        return;
    }
    let h = metrics::histogram!(super::HTTP_SECONDS, "route" => route.to_owned(), "status" => code.to_string());
    h.record(seconds);
    by_status.push((code, h));
}

/// Times each request of the routes it is applied to (with `Router::layer`, after the routes
/// and the fallback are added, so that it runs outside braid's other layers); when off, it only
/// passes requests on.
#[derive(Clone, Copy, Default)]
pub struct TimeLayer {
    on: bool,
}

impl TimeLayer {
    /// A layer that times requests when `on`.
    pub fn new(on: bool) -> Self {
        Self { on }
    }
}

impl<S> Layer<S> for TimeLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed { inner, on: self.on }
    }
}

/// A service timed by [`TimeLayer`].
#[derive(Clone)]
pub struct Timed<S> {
    inner: S,
    on: bool,
}

impl<S, B, R> Service<Request<B>> for Timed<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let timing = self.on.then(|| (request.extensions().get::<MatchedPath>().cloned(), Instant::now()));
        TimedFuture { inner: self.inner.call(request), timing }
    }
}

pin_project! {
    /// The response future of [`Timed`]: records when the response is ready.
    pub struct TimedFuture<F> {
        #[pin]
        inner: F,
        // The route template (none: unmatched) and the start, when timing.
        timing: Option<(Option<MatchedPath>, Instant)>,
    }
}

impl<F, R, E> Future for TimedFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some((route, start))) = (&result, this.timing.as_ref()) {
            let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            record(route, response.status(), start.elapsed().as_secs_f64());
        }
        Poll::Ready(result)
    }
}
