//! The HTTP client braid uses to talk to upstreams: no redirects followed (SSRF), bounded time,
//! bounded response size; JSON, or text for SAML metadata.

use std::time::Duration;

use serde_json::Value;

/// Largest upstream response braid reads (discovery, JWKS, token, userinfo).
const MAX_BODY: usize = 1024 * 1024;

/// Why an upstream call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Could not connect, timed out, or the connection broke.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// A non-success status, with the start of the body.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The first bytes of the body (for logs).
        body: String,
    },
    /// The body was too large or not the JSON expected.
    #[error("bad response: {0}")]
    Body(String),
}

/// The client for upstream calls, each bounded by `timeout` (connecting by at most 5 s of it).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("braid/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A form POST to an upstream token endpoint, with braid's client authentication: HTTP Basic
/// (form-encoded id and secret, RFC 6749 §2.3.1) or form fields, or just the client id for a
/// public client.
pub fn token_request(
    client: &reqwest::Client,
    url: &str,
    mut form: Vec<(&'static str, String)>,
    client_id: &str,
    secret: Option<&secrecy::SecretString>,
    auth: super::TokenAuth,
) -> reqwest::RequestBuilder {
    use secrecy::ExposeSecret;
    let mut req = client.post(url);
    match (auth, secret) {
        (super::TokenAuth::ClientSecretBasic, Some(sec)) => {
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(client_id), Some(enc(sec.expose_secret())));
        }
        (super::TokenAuth::ClientSecretPost, Some(sec)) => {
            form.push(("client_id", client_id.to_owned()));
            form.push(("client_secret", sec.expose_secret().to_owned()));
        }
        (_, None) => form.push(("client_id", client_id.to_owned())),
    }
    req.form(&form)
}

/// Send `req` and read a JSON object from a 2xx answer.
pub async fn json(req: reqwest::RequestBuilder) -> Result<Value, HttpError> {
    let v = json_value(req).await?;
    if !v.is_object() {
        return Err(HttpError::Body("not a JSON object".into()));
    }
    Ok(v)
}

/// Send `req` and read any JSON value from a 2xx answer.
pub async fn json_value(req: reqwest::RequestBuilder) -> Result<Value, HttpError> {
    let body = body(req.header(reqwest::header::ACCEPT, "application/json"), MAX_BODY).await?;
    serde_json::from_slice(&body).map_err(|e| HttpError::Body(format!("not JSON: {e}")))
}

/// Send `req` and read a UTF-8 text of at most `max` bytes from a 2xx answer (SAML metadata).
pub async fn text(req: reqwest::RequestBuilder, max: usize) -> Result<String, HttpError> {
    let body = body(req, max).await?;
    String::from_utf8(body).map_err(|_| HttpError::Body("not UTF-8".into()))
}

/// Send `req` and read at most `max` bytes of a 2xx answer.
async fn body(req: reqwest::RequestBuilder, max: usize) -> Result<Vec<u8>, HttpError> {
    let mut resp = req.send().await.map_err(|e| HttpError::Unreachable(e.without_url().to_string()))?;
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(HttpError::Body("response too large".into()));
    }
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError::Unreachable(e.without_url().to_string()))? {
        if body.len() + chunk.len() > max {
            return Err(HttpError::Body("response too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(HttpError::Status { status: status.as_u16(), body: text });
    }
    Ok(body)
}
