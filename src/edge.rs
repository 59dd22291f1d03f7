//! The layers around every route: each request runs to completion in its own task whether or
//! not the client stays, every response says `X-Content-Type-Options: nosniff`, and with an
//! https public URL every response carries `Strict-Transport-Security`.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::error::AppError;

/// `Strict-Transport-Security` on an https public URL: a year, this host and its subdomains
/// (no `preload`: joining browsers' preload lists is the operator's decision for the domain).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Wrap `router` in braid's edge layers; `https` says whether the public URL is https. The
/// header layers are outermost, so they also cover the 404 fallback and the 500 of a panic.
pub fn wrap<S: Clone + Send + Sync + 'static>(router: Router<S>, https: bool) -> Router<S> {
    let router = router
        .layer(middleware::from_fn(run_to_completion))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    if https {
        // Browsers ignore it over http, and a development http URL must not pin its host to https.
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        router
    }
}

/// Run the rest of the request in a task of its own and wait for it.
///
/// When a client hangs up, hyper drops the request's future; without this, a handler would stop
/// at whatever `.await` it was on, possibly inside a SQL transaction (sqlx 0.8 leaves a
/// PostgreSQL connection "idle in transaction" when `BEGIN` itself is cancelled). A spawned task
/// is not cancelled with the request: the handler finishes, commits or rolls back, and only its
/// answer is thrown away. A handler that panics gives an opaque 500.
async fn run_to_completion(request: Request, next: Next) -> Response {
    let handler = tokio::spawn(next.run(request).instrument(tracing::Span::current()));
    match handler.await {
        Ok(response) => response,
        Err(e) => AppError::Internal(format!("request handler did not finish: {e}")).into_response(),
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
        let app = wrap(Router::new().route("/boom", get(boom)).route("/ok", get(|| async { "ok" })), false);
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
