//! `[[routes]]` and `[proxy]`: the applications braid protects, through forward-auth or its own
//! reverse proxy, as written (checked by `proxy::table`).

use serde::Deserialize;

/// One `[[routes]]` entry: an application braid protects, through forward-auth or, with
/// `upstream`, through braid's own reverse proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// The host the browser asks for (`app.example.com`, or `app.example.com:8443` for a port
    /// other than the scheme's default).
    pub host: String,
    /// The paths of the host this route covers; the longest matching prefix wins.
    #[serde(default = "root_path")]
    pub path_prefix: String,
    /// Where braid's own proxy sends the requests (an http or https URL); forward-auth needs none.
    pub upstream: Option<String>,
    /// Paths served without sign-in (prefixes, matched on whole segments).
    #[serde(default)]
    pub public_paths: Vec<String>,
    /// Provider ids whose sign-ins are allowed; empty allows any.
    #[serde(default)]
    pub allow_providers: Vec<String>,
    /// Domains of the primary identity's verified email that are allowed; empty allows any.
    #[serde(default)]
    pub allow_email_domains: Vec<String>,
    /// Account ids that are allowed; empty allows any.
    #[serde(default)]
    pub allow_accounts: Vec<String>,
    /// `aud` of the `X-Braid-Assertion`; defaults to the route's origin.
    pub audience: Option<String>,
    /// braid's own proxy: how long this route's upstream may be silent (before its response
    /// head, once the request body stopped flowing, and between frames of its response body);
    /// default `[proxy] upstream_timeout_secs`.
    pub upstream_timeout_secs: Option<u64>,
}

fn root_path() -> String {
    "/".into()
}

/// `[proxy]`: forward-auth and reverse-proxy settings shared by every route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Hosts (besides the routes' own) that `/auth/start` and `/auth/sign-out` may return to.
    pub redirect_hosts: Vec<String>,
    /// How long braid's own proxy waits for an upstream's response head once the request body
    /// has stopped flowing (each body chunk passed on restarts the wait; then 504), and between
    /// frames of its response body (then the response is cut). A route may set its own.
    pub upstream_timeout_secs: u64,
    /// PEM certificates of the authorities that may sign an `https://` upstream's certificate,
    /// besides the web's (a private CA); relative to braid's working directory.
    pub upstream_ca_file: Option<std::path::PathBuf>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self { redirect_hosts: Vec::new(), upstream_timeout_secs: 60, upstream_ca_file: None }
    }
}
