//! `AppError`: the one error type at the HTTP edge. OAuth endpoints answer RFC 6749 JSON errors;
//! browser paths answer a readable page saying what went wrong and what to do. 5xx causes are
//! logged, never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::html;

/// An error that ends a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An OAuth 2.0 error answered as JSON (`/token`, `/userinfo`, `/revoke`, …).
    #[error("{code}: {description}")]
    OAuth {
        /// HTTP status.
        status: StatusCode,
        /// RFC 6749 error code.
        code: &'static str,
        /// Human-readable detail.
        description: String,
    },
    /// A problem a person must read: an HTML page with a title, what happened and what to do.
    #[error("{title}: {detail}")]
    Page {
        /// HTTP status.
        status: StatusCode,
        /// Short title.
        title: String,
        /// What happened and what to do next.
        detail: String,
    },
    /// Over a rate limit (`[limits]`): 429 with `Retry-After`; as OAuth JSON when `json`, else a
    /// page.
    #[error("rate limited for {retry_after_secs} s")]
    Limited {
        /// Seconds until a new attempt may pass.
        retry_after_secs: u64,
        /// Answer as OAuth JSON (`/token`) rather than a page.
        json: bool,
    },
    /// A store braid needs is down: fail closed with 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else: 500, cause logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// An OAuth error with status 400.
    pub fn oauth(code: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth { status: StatusCode::BAD_REQUEST, code, description: description.into() }
    }

    /// A page with status 400.
    pub fn page(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Page { status: StatusCode::BAD_REQUEST, title: title.into(), detail: detail.into() }
    }

    /// A page with the given status.
    pub fn page_status(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Page { status, title: title.into(), detail: detail.into() }
    }

    /// Turn a store failure on an OAuth JSON endpoint into `temporarily_unavailable`.
    pub fn into_oauth(self) -> Self {
        match self {
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable");
                Self::OAuth {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "temporarily_unavailable",
                    description: "braid cannot reach its stores; try again shortly".into(),
                }
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                Self::OAuth {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "server_error",
                    description: "unexpected error".into(),
                }
            }
            other => other,
        }
    }
}

impl From<crate::sessions::StoreError> for AppError {
    fn from(e: crate::sessions::StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<crate::accounts::AccountError> for AppError {
    fn from(e: crate::accounts::AccountError) -> Self {
        match e {
            crate::accounts::AccountError::Unavailable(m) => Self::Unavailable(m),
            crate::accounts::AccountError::Corrupt(m) => Self::Internal(m),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth { status, code, description } => {
                let body = serde_json::json!({ "error": code, "error_description": description });
                let mut resp = (status, axum::Json(body)).into_response();
                let h = resp.headers_mut();
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if status == StatusCode::UNAUTHORIZED && code == "invalid_client" {
                    h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"braid\""));
                } else if status == StatusCode::UNAUTHORIZED {
                    h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
                }
                resp
            }
            Self::Page { status, title, detail } => html::error_page(status, &title, &detail),
            Self::Limited { retry_after_secs, json } => {
                let wait = format!("Wait {retry_after_secs} seconds, then try again.");
                let mut resp = if json {
                    let body = serde_json::json!({
                        "error": "temporarily_unavailable",
                        "error_description": format!("too many attempts; retry after {retry_after_secs} s"),
                    });
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
                } else {
                    html::error_page(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Too many attempts",
                        &format!("braid received too many of these requests from here. {wait}"),
                    )
                };
                let h = resp.headers_mut();
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    h.insert(header::RETRY_AFTER, v);
                }
                resp
            }
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable; failing closed");
                html::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "braid is temporarily unavailable",
                    "braid cannot reach one of its stores right now, so nothing was changed. Try again in a moment.",
                )
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                html::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "braid hit an unexpected error and changed nothing. Try again; if it keeps happening, tell the administrator the time it happened.",
                )
            }
        }
    }
}
