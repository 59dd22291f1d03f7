//! The HTTP timing layer: every request braid answers is timed into
//! `braid_http_request_seconds{route,status}`, where `route` is the matched route template
//! (`/login/{provider}`), `unmatched` for paths no route matches, or `proxy` for requests braid's
//! reverse proxy forwards; never the raw path.
//!
//! Cheap on the hot path: the route template is an `Arc` clone of axum's `MatchedPath`, the
//! status label is made once per code, and each worker thread keeps its own map from
//! (route, status) to the histogram handle, so after the first request of a kind no lock is taken
//! and no key is built; recording is an atomic push.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Histogram;

/// The `route` label of a response, set by [`note_route`] or by the proxy.
#[derive(Clone)]
pub enum RouteLabel {
    /// A route of braid's router, by its template.
    Template(MatchedPath),
    /// A fixed label.
    Fixed(&'static str),
}

/// The label of requests braid's reverse proxy forwards (or refuses).
pub const PROXY: RouteLabel = RouteLabel::Fixed("proxy");
/// The label of requests no route matches.
pub const UNMATCHED: &str = "unmatched";

impl RouteLabel {
    fn as_str(&self) -> &str {
        match self {
            Self::Template(m) => m.as_str(),
            Self::Fixed(s) => s,
        }
    }
}

/// Histogram handles of one thread: by route label, then by status code.
type Handles = HashMap<Box<str>, Vec<(u16, Histogram)>>;

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::new(HashMap::new());
}

fn record(route: &str, status: axum::http::StatusCode, seconds: f64) {
    HANDLES.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(route) {
            map.insert(route.into(), Vec::new());
        }
        let Some(by_status) = map.get_mut(route) else { return };
        let code = status.as_u16();
        if let Some((_, h)) = by_status.iter().find(|(c, _)| *c == code) {
            h.record(seconds);
            return;
        }
        let h = metrics::histogram!(super::HTTP_SECONDS, "route" => route.to_owned(), "status" => code.to_string());
        h.record(seconds);
        by_status.push((code, h));
    });
}

/// A route layer: puts the matched route template on the response for [`time_requests`].
pub async fn note_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(m) = matched {
        response.extensions_mut().insert(RouteLabel::Template(m));
    }
    response
}

/// The outermost layer: time the request and record it under its route label and status.
pub async fn time_requests(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let response = next.run(request).await;
    let seconds = start.elapsed().as_secs_f64();
    let route = response.extensions().get::<RouteLabel>().map_or(UNMATCHED, RouteLabel::as_str);
    record(route, response.status(), seconds);
    response
}
