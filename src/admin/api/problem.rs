//! RFC 9457 problem details (`application/problem+json`) for the admin API: one `type` per
//! cause, the JSON pointer of each bad field for a validation problem, and the mapping from the
//! admin services' errors. Bad input is never a 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::Refusal;
use crate::admin::accounts::AdminError;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One cause of failure, with its `type` URI and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The request body or a parameter is malformed or breaks a rule of its own (422).
    Validation,
    /// No such resource (404).
    NotFound,
    /// The admin API is off: no token configured (404).
    Off,
    /// No bearer token, or not one of ours (401).
    Unauthorized,
    /// The change conflicts with the current state (409).
    Conflict,
    /// The identity is already linked to another account (409).
    AlreadyLinked,
    /// The identity is the last way to sign in to its account (409).
    LastSignIn,
    /// The identity is its account's primary (409).
    Primary,
    /// The account is disabled or merged (409).
    NotActive,
    /// Defined in a file or `braid.toml`: read-only here (409).
    FromFile,
    /// `If-Match` names a version that is no longer current (412).
    PreconditionFailed,
    /// A provider's discovery document or metadata did not answer, or did not match (422).
    Unreachable,
    /// A store (SQL or sessions) did not answer (503).
    Unavailable,
    /// The request body is not JSON (415).
    UnsupportedMediaType,
    /// Too many refused calls from this client address (429).
    RateLimited,
}

impl Cause {
    /// The problem's `type` (a URN: stable, never fetched).
    pub fn uri(self) -> &'static str {
        match self {
            Self::Validation => "urn:braid:problem:validation",
            Self::NotFound => "urn:braid:problem:not-found",
            Self::Off => "urn:braid:problem:api-off",
            Self::Unauthorized => "urn:braid:problem:unauthorized",
            Self::Conflict => "urn:braid:problem:conflict",
            Self::AlreadyLinked => "urn:braid:problem:identity-linked-elsewhere",
            Self::LastSignIn => "urn:braid:problem:last-sign-in-identity",
            Self::Primary => "urn:braid:problem:primary-identity",
            Self::NotActive => "urn:braid:problem:account-not-active",
            Self::FromFile => "urn:braid:problem:defined-in-file",
            Self::PreconditionFailed => "urn:braid:problem:precondition-failed",
            Self::Unreachable => "urn:braid:problem:upstream-unreachable",
            Self::Unavailable => "urn:braid:problem:unavailable",
            Self::UnsupportedMediaType => "urn:braid:problem:unsupported-media-type",
            Self::RateLimited => "urn:braid:problem:rate-limited",
        }
    }

    /// The short, fixed title of the cause.
    pub fn title(self) -> &'static str {
        match self {
            Self::Validation => "The request is not valid",
            Self::NotFound => "Not found",
            Self::Off => "The admin API is off",
            Self::Unauthorized => "An admin token is required",
            Self::Conflict => "The change conflicts with the current state",
            Self::AlreadyLinked => "The identity is linked to another account",
            Self::LastSignIn => "It is the last identity that can sign in",
            Self::Primary => "It is the account's primary identity",
            Self::NotActive => "The account is not active",
            Self::FromFile => "Defined in a file, read-only here",
            Self::PreconditionFailed => "The resource changed since it was read",
            Self::Unreachable => "The provider did not answer as it must",
            Self::Unavailable => "A store is unavailable",
            Self::UnsupportedMediaType => "The request body must be JSON",
            Self::RateLimited => "Too many requests",
        }
    }

    /// Its HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Validation | Self::Unreachable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound | Self::Off => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Conflict
            | Self::AlreadyLinked
            | Self::LastSignIn
            | Self::Primary
            | Self::NotActive
            | Self::FromFile => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// One bad field of a validation problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) of the field in the request body, or `#/name` for a query
    /// parameter or path segment.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// The cause (a URN per cause).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the cause.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The bad fields of a validation problem.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem of `cause` with `detail`.
    pub fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Self {
            kind: cause.uri().into(),
            title: cause.title().into(),
            status: cause.status().as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }

    /// A validation problem naming the field at `pointer`.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut p = Self::new(Cause::Validation, detail.clone());
        p.errors.push(FieldError { pointer: pointer.into(), detail });
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"braid admin\""));
        }
        resp
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(what) => Self::new(Cause::NotFound, what),
            AdminError::Refused(why) => Self::new(Cause::Conflict, why),
            AdminError::AlreadyLinked => {
                Self::new(Cause::AlreadyLinked, "the identity is linked to another account; move it instead")
            }
            AdminError::Rule(r) => {
                let cause = match r {
                    Refusal::LastSignIn => Cause::LastSignIn,
                    Refusal::Primary => Cause::Primary,
                    Refusal::NotActive => Cause::NotActive,
                    Refusal::NotFound => Cause::NotFound,
                    Refusal::SameAccount => Cause::Conflict,
                    Refusal::Changed => Cause::PreconditionFailed,
                };
                Self::new(cause, r.to_string())
            }
            AdminError::Store(detail) => {
                tracing::warn!(error = %detail, "admin API: a store failed");
                Self::new(Cause::Unavailable, "a store did not answer; try again")
            }
        }
    }
}

impl From<crate::error::AppError> for Problem {
    fn from(e: crate::error::AppError) -> Self {
        tracing::warn!(error = %e, "admin API: request failed");
        Self::new(Cause::Unavailable, "a store did not answer; try again")
    }
}
