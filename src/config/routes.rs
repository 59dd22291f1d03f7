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
    /// The algorithm of braid's key that signs `X-Braid-Assertion` (braid keeps a current key
    /// of each, all in `/jwks.json`). ES256 by default, as identity-aware proxies commonly
    /// sign theirs: the signature is 86 characters instead of RS256's 342, on every request an
    /// application receives, and signing one costs a small fraction of an RSA signature.
    pub assertion_algorithm: super::SigningAlg,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            redirect_hosts: Vec::new(),
            upstream_timeout_secs: 60,
            upstream_ca_file: None,
            assertion_algorithm: super::SigningAlg::ES256,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Settings, SigningAlg};

    #[test]
    fn the_assertion_algorithm_is_es256_unless_set_and_only_braids_own_algorithms_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("braid.toml");
        std::fs::write(&file, "").unwrap();
        assert_eq!(Settings::load(&file, true).unwrap().proxy.assertion_algorithm, SigningAlg::ES256);
        std::fs::write(&file, "[proxy]\nassertion_algorithm = \"RS256\"\n").unwrap();
        assert_eq!(Settings::load(&file, true).unwrap().proxy.assertion_algorithm, SigningAlg::RS256);
        for bad in ["HS256", "none", "es256"] {
            std::fs::write(&file, format!("[proxy]\nassertion_algorithm = \"{bad}\"\n")).unwrap();
            let e = Settings::load(&file, true).expect_err(bad);
            let p = &e.0[0];
            assert_eq!(p.key, "proxy.assertion_algorithm", "{e}");
            assert!(p.source.ends_with("braid.toml") && p.reason.contains(bad), "{e}");
        }
    }
}
