//! The layers around every route: each request runs to completion in its own task whether or
//! not the client stays, every response says `X-Content-Type-Options: nosniff`, with an https
//! public URL every response carries `Strict-Transport-Security`, and (with metrics on) each
//! request is timed under its route template.
//!
//! They are plain tower layers applied in one `Router::layer` call: axum boxes each layer it is
//! given around every route, so one composite layer costs one box per request where a layer per
//! concern (and `middleware::from_fn`, which boxes again) cost several. `/auth/verify` answers
//! in microseconds, and these allocations were a measurable part of it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::error::AppError;
use crate::metrics::http::TimeLayer;

/// `Strict-Transport-Security` on an https public URL: a year, this host and its subdomains
/// (no `preload`: joining browsers' preload lists is the operator's decision for the domain).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Wrap `router` in braid's edge layers; `https` says whether the public URL is https, `timed`
/// whether requests are timed into the metrics. Applied after the routes and the fallback, so
/// the headers also cover the 404 fallback and the 500 of a panic.
pub fn wrap<S: Clone + Send + Sync + 'static>(router: Router<S>, https: bool, timed: bool) -> Router<S> {
    router.layer((TimeLayer::new(timed), SecurityHeaders { https }, TraceLayer::new_for_http(), RunToCompletion))
}

/// Sets `nosniff` on every response and, when `https`, `Strict-Transport-Security` (browsers
/// ignore it over http, and a development http URL must not pin its host to https).
#[derive(Clone, Copy)]
struct SecurityHeaders {
    https: bool,
}

impl<S> Layer<S> for SecurityHeaders {
    type Service = WithSecurityHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WithSecurityHeaders { inner, https: self.https }
    }
}

/// A service whose responses get braid's security headers.
#[derive(Clone)]
pub struct WithSecurityHeaders<S> {
    inner: S,
    https: bool,
}

impl<S, B> Service<Request> for WithSecurityHeaders<S>
where
    S: Service<Request, Response = axum::http::Response<B>>,
{
    type Response = axum::http::Response<B>;
    type Error = S::Error;
    type Future = SecurityHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        SecurityHeadersFuture { inner: self.inner.call(request), https: self.https }
    }
}

pin_project! {
    /// The response future of [`WithSecurityHeaders`].
    pub struct SecurityHeadersFuture<F> {
        #[pin]
        inner: F,
        https: bool,
    }
}

impl<F, B, E> Future for SecurityHeadersFuture<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
{
    type Output = Result<axum::http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if *this.https {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
        }
        Poll::Ready(Ok(response))
    }
}

/// Runs the rest of the request in a task of its own and waits for it.
///
/// When a client hangs up, hyper drops the request's future; without this, a handler would stop
/// at whatever `.await` it was on, possibly inside a SQL transaction (sqlx 0.8 leaves a
/// PostgreSQL connection "idle in transaction" when `BEGIN` itself is cancelled). A spawned task
/// is not cancelled with the request: the handler finishes, commits or rolls back, and only its
/// answer is thrown away. A handler that panics gives an opaque 500.
#[derive(Clone, Copy)]
struct RunToCompletion;

impl<S> Layer<S> for RunToCompletion {
    type Service = Spawned<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Spawned { inner }
    }
}

/// A service whose calls each run in a task of their own.
#[derive(Clone)]
pub struct Spawned<S> {
    inner: S,
}

impl<S> Service<Request> for Spawned<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = SpawnedFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Called inside the trace layer's span, which the task keeps.
        SpawnedFuture { task: tokio::spawn(self.inner.call(request).instrument(tracing::Span::current())) }
    }
}

/// The response future of [`Spawned`]: the task's answer, or an opaque 500.
pub struct SpawnedFuture {
    task: JoinHandle<Result<Response, Infallible>>,
}

impl Future for SpawnedFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match ready!(Pin::new(&mut self.task).poll(cx)) {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(e) => AppError::Internal(format!("request handler did not finish: {e}")).into_response(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn boom() -> &'static str {
        panic!("secret detail")
    }

    #[tokio::test]
    async fn a_panicking_handler_gives_an_opaque_500_and_braid_keeps_serving() {
        let app = wrap(Router::new().route("/boom", get(boom)).route("/ok", get(|| async { "ok" })), false, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let r = reqwest::get(format!("{base}/boom")).await.unwrap();
        assert_eq!(r.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = r.text().await.unwrap();
        assert!(!body.contains("secret detail") && !body.contains("panic"), "{body}");
        assert_eq!(reqwest::get(format!("{base}/ok")).await.unwrap().text().await.unwrap(), "ok");
    }
}
