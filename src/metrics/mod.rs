//! Prometheus metrics: the `[metrics]` settings, the one process-wide recorder
//! (`metrics-exporter-prometheus`, installed once), the `GET /metrics` endpoint with its optional
//! bearer token, and the names and fixed label values of every series braid records.
//!
//! Label values come only from fixed sets (the constants below, route templates, status codes)
//! or from configured ids (provider ids): never an account id, subject, email or IP.

pub mod http;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Sign-ins by provider and outcome.
pub const SIGN_INS: &str = "braid_sign_ins_total";
/// Tokens issued at `/token` by grant.
pub const TOKENS_ISSUED: &str = "braid_tokens_issued_total";
/// Rotated refresh tokens presented again (the family is revoked).
pub const REFRESH_REUSE: &str = "braid_refresh_reuse_detected_total";
/// Time of each call to an upstream provider.
pub const UPSTREAM_SECONDS: &str = "braid_upstream_request_seconds";
/// SAML responses refused, by provider and reason.
pub const SAML_REFUSALS: &str = "braid_saml_refusals_total";
/// Time of each HTTP request braid answers, by route template and status.
pub const HTTP_SECONDS: &str = "braid_http_request_seconds";
/// Failed store operations, by store.
pub const STORE_ERRORS: &str = "braid_store_errors_total";
/// Undelivered rows of the webhook outbox.
pub const WEBHOOK_QUEUE: &str = "braid_webhook_queue_depth";
/// Committed changes to accounts and links, by kind (the audit action).
pub const ACCOUNT_CHANGES: &str = "braid_account_changes_total";
/// Always 1, labelled with braid's version.
pub const BUILD_INFO: &str = "braid_build_info";

/// Every series name braid exports (the dashboard test checks its queries against these).
pub const ALL: [&str; 10] = [
    SIGN_INS,
    TOKENS_ISSUED,
    REFRESH_REUSE,
    UPSTREAM_SECONDS,
    SAML_REFUSALS,
    HTTP_SECONDS,
    STORE_ERRORS,
    WEBHOOK_QUEUE,
    ACCOUNT_CHANGES,
    BUILD_INFO,
];

/// Histogram buckets, in seconds: from 0.5 ms (a forward-auth check) to 10 s (the upstream
/// client's timeout).
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Record metrics and serve `/metrics`. Off, braid records nothing (the hot paths skip the
    /// HTTP timing layer) and `/metrics` is 404.
    pub enabled: bool,
    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9100`), not on the main listener.
    pub listen: Option<String>,
    /// Lowercase hex SHA-256 of the bearer token scrapers must send; unset, none is asked.
    /// `${ENV}` references are replaced.
    pub token_sha256: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, listen: None, token_sha256: None }
    }
}

impl MetricsSettings {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(l) = &self.listen {
            if l.parse::<SocketAddr>().is_err() {
                out.push(("metrics.listen".into(), format!("`{l}` is not an address like 127.0.0.1:9100")));
            }
        }
        if self.token_sha256.is_some() {
            if let Err(reason) = self.token_hash() {
                out.push(("metrics.token_sha256".into(), reason));
            }
        }
        out
    }

    /// The configured token hash as 32 bytes, `${ENV}` references replaced.
    pub fn token_hash(&self) -> Result<Option<[u8; 32]>, String> {
        let Some(raw) = &self.token_sha256 else { return Ok(None) };
        let secret = secrecy::SecretString::from(raw.clone());
        let resolved = crate::config::resolve_secret(Some(&secret), None, "metrics.token_sha256")?;
        let hex = resolved.map(|s| secrecy::ExposeSecret::expose_secret(&s).trim().to_ascii_lowercase());
        let hex = hex.unwrap_or_default();
        let bytes = decode_hex(&hex).ok_or_else(|| {
            "must be the 64 hex digits of a SHA-256 (make one with `printf %s \"$TOKEN\" | sha256sum`)".to_owned()
        })?;
        Ok(Some(bytes))
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| char::from(c).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// The process-wide recorder. The `metrics` facade has exactly one global recorder per process,
/// so it is installed once, by the first braid built with metrics on, and shared by every later
/// one in the same process (tests build many).
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Install the recorder (once per process) and return its handle. Must run inside a Tokio
/// runtime: the first call starts the upkeep task.
pub fn install() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
            describe();
            zeros();
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            Ok(handle)
        })
        .clone()
}

/// The kinds of [`ACCOUNT_CHANGES`]: the audit actions of `accounts::changes`.
pub const ACCOUNT_CHANGE_KINDS: [&str; 10] = [
    "identity.linked",
    "identity.unlinked",
    "identity.sign_in_allowed",
    "identity.sign_in_forbidden",
    "identity.moved",
    "account.primary_changed",
    "account.merged",
    "account.disabled",
    "account.enabled",
    "account.deleted",
];

/// Every series whose labels are known in advance exists from the start, at zero: `rate()` and
/// `increase()` then see the first event, and an alert on them never waits for a series to
/// appear.
fn zeros() {
    ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for grant in ["authorization_code", "refresh_token"] {
        ::metrics::counter!(TOKENS_ISSUED, "grant" => grant).increment(0);
    }
    ::metrics::counter!(REFRESH_REUSE).increment(0);
    for store in ["sql", "sessions"] {
        ::metrics::counter!(STORE_ERRORS, "store" => store).increment(0);
    }
    for kind in ACCOUNT_CHANGE_KINDS {
        ::metrics::counter!(ACCOUNT_CHANGES, "kind" => kind).increment(0);
    }
    ::metrics::gauge!(WEBHOOK_QUEUE).set(0.0);
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(SIGN_INS, "Finished sign-ins by provider and outcome (created, existing, linked, refused_*).");
    describe_counter!(TOKENS_ISSUED, "Token responses issued at /token by grant type.");
    describe_counter!(REFRESH_REUSE, "Rotated refresh tokens presented again; each revokes its grant.");
    describe_histogram!(UPSTREAM_SECONDS, Unit::Seconds, "Calls to upstream providers by provider and step.");
    describe_counter!(SAML_REFUSALS, "SAML responses refused by provider and reason.");
    describe_histogram!(HTTP_SECONDS, Unit::Seconds, "HTTP requests by route template and status.");
    describe_counter!(STORE_ERRORS, "Failed operations of the SQL and session stores.");
    describe_gauge!(WEBHOOK_QUEUE, "Undelivered rows of the webhook outbox, as last read by the delivery task.");
    describe_counter!(ACCOUNT_CHANGES, "Committed changes to accounts and links by kind.");
    describe_gauge!(BUILD_INFO, "Always 1; the label carries braid's version.");
}

/// What `GET /metrics` needs: the recorder and the token hash.
#[derive(Clone)]
pub struct Endpoint {
    handle: PrometheusHandle,
    token: Option<[u8; 32]>,
}

impl Endpoint {
    /// The endpoint for `settings` (the recorder is installed if it was not yet).
    pub fn new(settings: &MetricsSettings) -> Result<Self, String> {
        let token = settings.token_hash().map_err(|e| format!("key `metrics.token_sha256`: {e}"))?;
        Ok(Self { handle: install()?, token })
    }

    /// A router with only `GET /metrics`.
    pub fn router(self) -> axum::Router {
        axum::Router::new().route(PATH, axum::routing::get(metrics_get)).with_state(self)
    }
}

/// Where the metrics are served.
pub const PATH: &str = "/metrics";

/// `GET /metrics`: the Prometheus text format; 401 without the configured bearer token.
pub async fn metrics_get(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    if let Some(expected) = endpoint.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.trim().as_bytes()));
        let ok = presented.is_some_and(|d| bool::from(d.as_ref().ct_eq(&expected)));
        if !ok {
            let mut resp = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"metrics\""));
            return resp;
        }
    }
    let body = endpoint.handle.render();
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Outcome labels of [`SIGN_INS`].
pub mod outcome {
    /// A new account was made.
    pub const CREATED: &str = "created";
    /// A known identity signed in.
    pub const EXISTING: &str = "existing";
    /// The identity was linked to the signed-in account.
    pub const LINKED: &str = "linked";
    /// The provider may link but not sign in.
    pub const REFUSED_PROVIDER: &str = "refused_provider";
    /// A link-only provider and an unknown identity.
    pub const REFUSED_UNKNOWN_IDENTITY: &str = "refused_unknown_identity";
    /// The identity may not sign in.
    pub const REFUSED_IDENTITY_DISABLED: &str = "refused_identity_disabled";
    /// The account is disabled or merged.
    pub const REFUSED_ACCOUNT_INACTIVE: &str = "refused_account_inactive";
    /// A link or link-by-email proof was refused (another account, session changed).
    pub const REFUSED_LINK: &str = "refused_link";
    /// The upstream's answer was an error or could not be verified.
    pub const REFUSED_UPSTREAM: &str = "refused_upstream";
}

/// Count one finished sign-in of `provider` with `outcome` (one of [`outcome`]).
pub fn sign_in(provider: &str, outcome: &'static str) {
    ::metrics::counter!(SIGN_INS, "provider" => provider.to_owned(), "outcome" => outcome).increment(1);
}

/// Count one token response for `grant` (`authorization_code` or `refresh_token`).
pub fn token_issued(grant: &'static str) {
    ::metrics::counter!(TOKENS_ISSUED, "grant" => grant).increment(1);
}

/// Count one replayed refresh token.
pub fn refresh_reuse() {
    ::metrics::counter!(REFRESH_REUSE).increment(1);
}

/// Count one refused SAML response; `reason` is from a fixed set (see `saml::acs`).
pub fn saml_refusal(provider: &str, reason: &'static str) {
    ::metrics::counter!(SAML_REFUSALS, "provider" => provider.to_owned(), "reason" => reason).increment(1);
}

/// Count one failed operation of `store` (`sql` or `sessions`).
pub fn store_error(store: &'static str) {
    ::metrics::counter!(STORE_ERRORS, "store" => store).increment(1);
}

/// Count one committed account change of `kind` (an audit action such as `identity.linked`).
pub fn account_change(kind: &'static str) {
    ::metrics::counter!(ACCOUNT_CHANGES, "kind" => kind).increment(1);
}

/// Set the webhook outbox depth.
pub fn webhook_queue_depth(rows: i64) {
    ::metrics::gauge!(WEBHOOK_QUEUE).set(rows as f64);
}

/// Run `call` (one request to an upstream) and record its time under `provider` and `step`
/// (`discovery`, `jwks`, `token`, `userinfo` or `metadata`), whether it succeeds or not.
pub async fn upstream<F: std::future::Future>(provider: &str, step: &'static str, call: F) -> F::Output {
    let start = Instant::now();
    let out = call.await;
    ::metrics::histogram!(UPSTREAM_SECONDS, "provider" => provider.to_owned(), "step" => step)
        .record(start.elapsed().as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_hash_is_64_hex_digits() {
        let mut s = MetricsSettings::default();
        assert!(s.check().is_empty());
        s.token_sha256 = Some("ab".repeat(32));
        assert_eq!(s.token_hash().unwrap(), Some([0xab; 32]));
        s.token_sha256 = Some("AB".repeat(32));
        assert_eq!(s.token_hash().unwrap(), Some([0xab; 32]));
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            s.token_sha256 = Some(bad.to_owned());
            assert_eq!(s.check()[0].0, "metrics.token_sha256", "{bad}");
        }
        s.token_sha256 = None;
        s.listen = Some("nowhere".into());
        assert_eq!(s.check()[0].0, "metrics.listen");
    }
}
