//! Settings: defaults, then `braid.toml`, then `BRAID__SECTION__KEY` environment overrides,
//! checked with a precise message (file, key, reason) for every bad value or unknown key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

mod clients;
mod routes;
pub use clients::ClientSettings;
pub use routes::{ProxySettings, RouteSettings};

/// Every setting of braid. Every key is optional; the defaults serve a local demo.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[store]`
    pub store: StoreSettings,
    /// `[keys]`
    pub keys: KeySettings,
    /// `[providers]`
    pub providers: ProviderSettings,
    /// `[tokens]`
    pub tokens: TokenSettings,
    /// `[session]`
    pub session: SessionSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[demo]`
    pub demo: DemoSettings,
    /// `[dev]`
    pub dev: DevSettings,
    /// `[account]`
    pub account: AccountSettings,
    /// `[[clients]]`
    pub clients: Vec<ClientSettings>,
    /// `[notify]`
    pub notify: NotifySettings,
    /// `[[webhooks]]`
    pub webhooks: Vec<WebhookSettings>,
    /// `[[routes]]`: applications protected by forward-auth.
    pub routes: Vec<RouteSettings>,
    /// `[proxy]`
    pub proxy: ProxySettings,
    /// `[admin]`: admin API tokens and console accounts.
    pub admin: crate::admin::settings::AdminSettings,
    /// `[limits]`: rate limits on anonymous, costly paths.
    pub limits: crate::limits::LimitSettings,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: crate::metrics::MetricsSettings,
}

/// `[server]`: where braid listens and the URL it is known by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// The issuer URL; must be what clients and browsers see. Defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Peers (addresses or networks) whose `X-Forwarded-For` names the client address.
    pub trusted_proxies: Vec<String>,
    /// Threads that serve requests: 0 (the default) is one per core braid may run on. With one,
    /// braid runs on a single-threaded runtime (no hand-offs between threads).
    pub worker_threads: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            shutdown_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            worker_threads: 0,
        }
    }
}

/// `[store]`: the account store (SQL) and the session store (memory or Redis).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite://braid.db` or `postgres://user@host/db`.
    pub accounts: String,
    /// `memory`, `redis://host:port/db`, `redis+sentinel://h1:26379,h2:26379/master/db` or
    /// `redis-cluster://h1:7000,h2:7001,h3:7002`.
    pub sessions: String,
    /// Prefix of every Redis key braid writes.
    pub redis_key_prefix: String,
    /// Milliseconds one Redis operation may take before braid fails closed.
    pub redis_timeout_ms: u64,
    /// With `sessions = "memory"`: the most MiB of sessions, sign-ins under way and codes kept;
    /// past it new ones are refused (503) rather than the process running out of memory.
    pub memory_max_mb: u64,
    /// SQLite's `synchronous` in WAL mode: `full` (every commit reaches the disk before it is
    /// answered) or `normal` (commits reach the disk at checkpoints: a power loss or OS crash may
    /// undo the last ones, a braid crash never).
    pub sqlite_synchronous: crate::db::SqliteSync,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            accounts: "sqlite://braid.db".into(),
            sessions: "memory".into(),
            redis_key_prefix: "braid:".into(),
            redis_timeout_ms: 2000,
            memory_max_mb: 64,
            sqlite_synchronous: crate::db::SqliteSync::Full,
        }
    }
}

/// A signing algorithm braid can issue tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// Every algorithm braid signs with; it keeps a current key of each.
    pub const ALL: [Self; 3] = [Self::RS256, Self::ES256, Self::EdDSA];

    /// The algorithm of a JOSE name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// `[keys]`: where signing keys live and which algorithm signs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Directory of key files; generated on first start, never committed.
    pub dir: PathBuf,
    /// Algorithm of the current signing key.
    pub algorithm: SigningAlg,
    /// A new key signs only once it is this many seconds old (published everywhere first).
    pub activation_delay_secs: u64,
    /// How often the key directory is read again, in seconds.
    pub reload_interval_secs: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self { dir: "keys".into(), algorithm: SigningAlg::RS256, activation_delay_secs: 600, reload_interval_secs: 60 }
    }
}

/// `[providers]`: the directory of provider files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSettings {
    /// Directory holding one `<id>.toml` per upstream provider.
    pub dir: PathBuf,
    /// How often the directory is read again for changes, in milliseconds.
    pub reload_interval_ms: u64,
    /// The longest braid waits for one upstream call (discovery, keys, token, userinfo,
    /// metadata), in seconds; past it the person gets an error page.
    pub upstream_timeout_secs: u64,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self { dir: "providers".into(), reload_interval_ms: 2000, upstream_timeout_secs: 10 }
    }
}

/// `[tokens]`: lifetimes of what braid issues, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// Access token lifetime.
    pub access_token_ttl_secs: u64,
    /// ID token lifetime.
    pub id_token_ttl_secs: u64,
    /// Refresh token family lifetime (from the first sign-in).
    pub refresh_token_ttl_secs: u64,
    /// Authorization code lifetime.
    pub code_ttl_secs: u64,
    /// Seconds in which a just-rotated refresh token may be presented again once, when its
    /// successor was never used (the client did not receive the answer); 0: never.
    pub refresh_reuse_grace_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            code_ttl_secs: 60,
            refresh_reuse_grace_secs: 10,
        }
    }
}

/// `[session]`: the browser session at braid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Lifetime of a browser session, in seconds.
    pub ttl_secs: u64,
    /// Time a person has to finish an upstream sign-in, in seconds.
    pub login_ttl_secs: u64,
    /// Share the session cookie with this domain and its subdomains (`example.com`: braid at
    /// `auth.example.com`, applications at `*.example.com`). Unset: braid's host only.
    pub cookie_domain: Option<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { ttl_secs: 8 * 3600, login_ttl_secs: 600, cookie_domain: None }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `braid=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

/// `[demo]`: the built-in demo application at `/demo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Serve `/demo` and register its public client `demo`.
    pub enabled: bool,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[dev]`: the dev provider and the demo application, which let anyone sign in as anyone.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DevSettings {
    /// Allow the dev provider and the demo client although `public_url` is not an http loopback
    /// address (a shared test deployment). Never for real users.
    pub allow_on_public_url: bool,
}

/// `[account]`: self-service on `/account` and linking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// A change on `/account` needs a sign-in at most this many seconds old; older sessions sign
    /// in again first.
    pub fresh_auth_secs: u64,
    /// How long a person has to prove an account when linking by email, in seconds.
    pub link_proof_ttl_secs: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self { fresh_auth_secs: 600, link_proof_ttl_secs: 600 }
    }
}

/// `[notify]`: the workers that deliver the webhook and email outboxes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// How often the outbox is read for due notifications, in milliseconds.
    pub poll_interval_ms: u64,
    /// Attempts per notification before braid gives up on it.
    pub max_attempts: u64,
    /// Time one webhook request, or one SMTP exchange, may take, in milliseconds.
    pub timeout_ms: u64,
    /// `[notify.email]`: emails to the person; none without it.
    pub email: Option<crate::notify::email::EmailSettings>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { poll_interval_ms: 1000, max_attempts: 20, timeout_ms: 5000, email: None }
    }
}

/// One `[[webhooks]]` entry: a receiver of account and link notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where notifications are POSTed; https, or http on loopback.
    pub url: String,
    /// The signing secret; `${ENV_VAR}` is replaced.
    pub secret: Option<SecretString>,
    /// A file holding the signing secret (trailing newline ignored).
    pub secret_file: Option<PathBuf>,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `environment`) the value came from.
    pub source: String,
    /// The dotted key, e.g. `server.listen` or `clients[0].redirect_uris[1]`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: key `{}`: {}", self.source, self.key, self.reason)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl Settings {
    /// Load defaults, then `path` (if it exists, or must exist when `required`), then `BRAID__`
    /// environment overrides; then check every value.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        if required && !path.exists() {
            return Err(ConfigError(vec![ConfigProblem {
                source: file,
                key: "-".into(),
                reason: "file not found".into(),
            }]));
        }
        let figment = Figment::new().merge(Toml::file(path)).merge(Env::prefixed("BRAID__").split("__"));
        let settings: Settings = figment.extract().map_err(|e| {
            ConfigError(
                e.into_iter()
                    .map(|e| ConfigProblem {
                        source: e
                            .metadata
                            .as_ref()
                            .and_then(|m| m.source.as_ref().map(ToString::to_string))
                            .or_else(|| e.metadata.as_ref().map(|m| m.name.to_string()))
                            .unwrap_or_else(|| file.clone()),
                        key: if e.path.is_empty() { "-".into() } else { e.path.join(".") },
                        reason: e.kind.to_string(),
                    })
                    .collect(),
            )
        })?;
        settings.check(&file)?;
        Ok(settings)
    }

    /// Check values that parse but make no sense.
    pub fn check(&self, file: &str) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad =
            |key: String, reason: String| problems.push(ConfigProblem { source: file.to_owned(), key, reason });
        if self.server.listen.parse::<SocketAddr>().is_err() {
            bad("server.listen".into(), format!("`{}` is not an address like 127.0.0.1:8080", self.server.listen));
        }
        if let Some(p) = &self.server.public_url {
            match Url::parse(p) {
                Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                    bad("server.public_url".into(), format!("`{p}` must not have a query or fragment"))
                }
                // It is braid's issuer, compared as written, and its scheme decides whether cookies
                // are `Secure`: `HTTPS://` would parse, yet be taken for plain http elsewhere.
                Ok(u) if !p.starts_with(&format!("{}://", u.scheme())) => {
                    bad("server.public_url".into(), format!("`{p}` must start with `{}://` in lower case", u.scheme()))
                }
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" => {
                    if check_redirect_uri(p).is_err() && !is_test_name(&u) {
                        bad(
                            "server.public_url".into(),
                            format!(
                                "`{p}` must use https (http is allowed only on loopback or a `.test` name, for \
                                 development)"
                            ),
                        );
                    }
                }
                _ => bad("server.public_url".into(), format!("`{p}` must be an https URL")),
            }
        }
        if self.demo.enabled && !self.dev_allowed() {
            bad(
                "demo.enabled".into(),
                format!(
                    "the demo application is a public client anyone can use; it is refused on `{}` (not an http \
                     loopback address): set `[demo] enabled = false`, or `[dev] allow_on_public_url = true` for a \
                     test deployment",
                    self.public_url()
                ),
            );
        }
        if crate::db::Db::backend_of(&self.store.accounts).is_err() {
            bad("store.accounts".into(), format!("`{}` must start with sqlite:// or postgres://", self.store.accounts));
        }
        if let Err(e) = crate::sessions::parse_sessions_url(&self.store.sessions) {
            bad("store.sessions".into(), e);
        }
        if let Err(e) = crate::sessions::check_key_prefix(&self.store.redis_key_prefix) {
            bad("store.redis_key_prefix".into(), e);
        }
        for (name, v) in [
            ("tokens.access_token_ttl_secs", self.tokens.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
            ("tokens.refresh_token_ttl_secs", self.tokens.refresh_token_ttl_secs),
            ("tokens.code_ttl_secs", self.tokens.code_ttl_secs),
            ("session.ttl_secs", self.session.ttl_secs),
            ("session.login_ttl_secs", self.session.login_ttl_secs),
            ("providers.reload_interval_ms", self.providers.reload_interval_ms),
            ("account.fresh_auth_secs", self.account.fresh_auth_secs),
            ("keys.reload_interval_secs", self.keys.reload_interval_secs),
            ("account.link_proof_ttl_secs", self.account.link_proof_ttl_secs),
            ("notify.poll_interval_ms", self.notify.poll_interval_ms),
            ("notify.max_attempts", self.notify.max_attempts),
            ("notify.timeout_ms", self.notify.timeout_ms),
            ("store.memory_max_mb", self.store.memory_max_mb),
        ] {
            if v == 0 {
                bad(name.into(), "must be greater than 0".into());
            }
        }
        if self.server.worker_threads > 1024 {
            bad("server.worker_threads".into(), "must be 0 (one per core) to 1024".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            if c.id.is_empty() || !c.id.chars().all(|ch| ch.is_ascii_graphic()) {
                bad(format!("clients[{i}].id"), "must be non-empty printable ASCII".into());
            }
            if !seen.insert(c.id.as_str()) || (self.demo.enabled && c.id == crate::web::demo::CLIENT_ID) {
                bad(format!("clients[{i}].id"), format!("client id `{}` is used twice", c.id));
            }
            for (key, reason) in c.problems(&format!("clients[{i}]")) {
                bad(format!("clients[{i}].{key}"), reason);
            }
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            match Url::parse(&w.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    if let Err(reason) = check_redirect_uri(&w.url) {
                        bad(format!("webhooks[{i}].url"), reason);
                    }
                }
                _ => bad(format!("webhooks[{i}].url"), format!("`{}` must be an http(s) URL", w.url)),
            }
            match (&w.secret, &w.secret_file) {
                (Some(_), Some(_)) => {
                    bad(format!("webhooks[{i}].secret_file"), "give `secret` or `secret_file`, not both".into())
                }
                (None, None) => bad(
                    format!("webhooks[{i}].secret"),
                    "a signing secret is needed: give `secret` or `secret_file`".into(),
                ),
                (Some(s), None) if secrecy::ExposeSecret::expose_secret(s).is_empty() => {
                    bad(format!("webhooks[{i}].secret"), "must not be empty".into())
                }
                _ => {}
            }
        }
        for (key, reason) in crate::proxy::table::check(&self.routes, &self.proxy, &self.public_url()) {
            bad(key, reason);
        }
        if let Some(domain) = &self.session.cookie_domain {
            match crate::web::cookies::check_domain(domain, &self.public_url()) {
                Err(reason) => bad("session.cookie_domain".into(), reason),
                Ok(()) => {
                    for (i, r) in self.routes.iter().enumerate() {
                        if let Some(reason) =
                            crate::web::cookies::route_without_cookie(&r.host, domain, &self.public_url())
                        {
                            bad(format!("routes[{i}].host"), reason);
                        }
                    }
                }
            }
        }
        for (key, reason) in crate::notify::email::check(self.notify.email.as_ref()) {
            bad(key, reason);
        }
        for (key, reason) in self.admin.check().into_iter().chain(self.limits.check()).chain(self.metrics.check()) {
            bad(key, reason);
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            if crate::web::client_ip::Net::parse(p).is_none() {
                bad(
                    format!("server.trusted_proxies[{i}]"),
                    format!("`{p}` is not an address or a network like 10.0.0.0/8"),
                );
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError(problems)) }
    }

    /// The issuer URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.server.listen),
        }
    }

    /// Whether the dev provider and the demo client may run: `public_url` is an http loopback
    /// address (development), or `[dev] allow_on_public_url` says so.
    pub fn dev_allowed(&self) -> bool {
        let url = self.public_url();
        self.dev.allow_on_public_url || (url.starts_with("http://") && check_redirect_uri(&url).is_ok())
    }

    /// Whether cookies must be `Secure` with the `__Host-` prefix (an https public URL).
    pub fn secure_cookies(&self) -> bool {
        // Without a public URL it is `http://` + the listen address.
        self.server.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }

    /// The session cookie: host-only, or shared with `[session] cookie_domain`.
    pub fn session_cookie(&self) -> crate::web::cookies::SessionCookie<'_> {
        crate::web::cookies::SessionCookie::new(self.secure_cookies(), self.session.cookie_domain.as_deref())
    }
}

/// Whether `u`'s host is a name under `.test`, the top-level domain RFC 6761 reserves for
/// testing: it never resolves on the internet, so an http URL there is a test setup (a browser
/// told to map `*.test` to loopback).
fn is_test_name(u: &Url) -> bool {
    matches!(u.host(), Some(url::Host::Domain(d)) if d.to_ascii_lowercase().ends_with(".test"))
}

/// `reason` without the "key `…`: " prefix `resolve_secret` puts on its messages.
fn strip_key(reason: &str, key: &str) -> String {
    reason.strip_prefix(&format!("key `{key}`: ")).unwrap_or(reason).to_owned()
}

/// A redirect URI must be absolute, without a fragment, and http only on loopback.
pub fn check_redirect_uri(u: &str) -> Result<(), String> {
    let parsed = Url::parse(u).map_err(|e| format!("`{u}` is not an absolute URL: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("`{u}` must not have a fragment"));
    }
    if parsed.scheme() == "http" {
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback {
            return Err(format!("`{u}` must use https (http is allowed only on loopback)"));
        }
    }
    Ok(())
}

/// Resolve a secret given inline (with `${ENV}` references) or in a file.
pub fn resolve_secret(
    inline: Option<&SecretString>,
    file: Option<&Path>,
    key: &str,
) -> Result<Option<SecretString>, String> {
    use secrecy::ExposeSecret;
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("key `{key}`: cannot read {}: {e}", path.display()))?;
        return Ok(Some(SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned())));
    }
    let Some(s) = inline else { return Ok(None) };
    let raw = s.expose_secret();
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("key `{key}`: unclosed `${{` reference"))?;
        let var = &after[..end];
        let val = std::env::var(var).map_err(|_| format!("key `{key}`: environment variable `{var}` is not set"))?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(SecretString::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_https_or_loopback() {
        assert!(check_redirect_uri("https://app.example/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://app.example/cb").is_err());
        assert!(check_redirect_uri("https://app.example/cb#x").is_err());
        assert!(check_redirect_uri("/cb").is_err());
    }

    fn with_domain(public_url: &str, domain: &str, route_hosts: &[&str]) -> Result<(), ConfigError> {
        let mut s = Settings::default();
        s.demo.enabled = false;
        s.server.public_url = Some(public_url.into());
        s.session.cookie_domain = Some(domain.into());
        s.routes = route_hosts
            .iter()
            .map(|h| RouteSettings {
                host: (*h).into(),
                path_prefix: "/".into(),
                upstream: None,
                public_paths: vec![],
                allow_providers: vec![],
                allow_email_domains: vec![],
                allow_accounts: vec![],
                audience: None,
                upstream_timeout_secs: None,
            })
            .collect();
        s.check("braid.toml")
    }

    fn problem(r: Result<(), ConfigError>) -> ConfigProblem {
        let e = r.expect_err("a problem");
        assert_eq!(e.0.len(), 1, "{e}");
        e.0[0].clone()
    }

    #[test]
    fn the_cookie_domain_is_braids_host_or_a_parent_of_it() {
        assert!(with_domain("https://auth.example.com", "example.com", &[]).is_ok());
        assert!(with_domain("https://example.com/braid", "example.com", &[]).is_ok());
        assert!(with_domain("https://auth.eu.Example.com", "EXAMPLE.com", &[]).is_ok());
        assert!(with_domain("https://auth.example.com", "auth.example.com", &[]).is_ok());
        let p = problem(with_domain("https://auth.example.net", "example.com", &[]));
        assert_eq!(p.key, "session.cookie_domain");
        assert_eq!(
            p.to_string(),
            "braid.toml: key `session.cookie_domain`: braid's host `auth.example.net` (from server.public_url) is not \
             `example.com` or a subdomain of it: browsers refuse a cookie for another domain"
        );
        // A suffix that is not on a label boundary is another domain.
        assert!(problem(with_domain("https://authexample.com", "example.com", &[])).reason.contains("is not"));
        assert!(problem(with_domain("https://example.com", "auth.example.com", &[])).reason.contains("is not"));
    }

    #[test]
    fn a_cookie_domain_with_a_dot_a_single_label_or_an_address_is_refused() {
        let p = problem(with_domain("https://auth.example.com", ".example.com", &[]));
        assert_eq!(p.key, "session.cookie_domain");
        assert!(p.reason.starts_with("write `example.com` without the leading dot"), "{p}");
        for single in ["com", "test", "localhost"] {
            let p = problem(with_domain("http://auth.test:8080", single, &[]));
            assert!(p.reason.contains("is a whole top-level domain"), "{p}");
        }
        for bad in ["https://example.com", "example.com:443", "*.example.com", "exa mple.com", "example..com", "-x.com"]
        {
            let p = problem(with_domain("https://auth.example.com", bad, &[]));
            assert!(p.reason.contains("must be a domain name like example.com"), "{bad}: {p}");
        }
        assert!(problem(with_domain("http://127.0.0.1:8080", "0.0.1", &[])).reason.contains("IP address"));
        let p = problem(with_domain("http://127.0.0.1:8080", "example.com", &[]));
        assert!(p.reason.contains("has an IP address for a host"), "{p}");
    }

    #[test]
    fn with_a_cookie_domain_every_route_must_receive_the_cookie() {
        assert!(
            with_domain("https://auth.example.com", "example.com", &["app.example.com", "example.com:8443"]).is_ok()
        );
        let p = problem(with_domain("https://auth.example.com", "example.com", &["app.example.com", "app.other.net"]));
        assert_eq!(p.key, "routes[1].host");
        assert!(p.reason.contains("neither under `[session] cookie_domain` `example.com`"), "{p}");
    }

    #[test]
    fn worker_threads_are_zero_for_one_per_core_or_a_sane_count() {
        let mut s = Settings::default();
        s.demo.enabled = false;
        for ok in [0, 1, 8, 1024] {
            s.server.worker_threads = ok;
            assert!(s.check("t").is_ok(), "{ok}");
        }
        s.server.worker_threads = 1025;
        assert_eq!(problem(s.check("t")).key, "server.worker_threads");
    }

    #[test]
    fn http_public_urls_are_for_loopback_and_test_names_only() {
        let mut s = Settings::default();
        s.demo.enabled = false;
        for ok in ["http://127.0.0.1:8080", "http://localhost:8080", "http://auth.example.test:8080", "https://x.com"] {
            s.server.public_url = Some(ok.into());
            assert!(s.check("t").is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.com",
            "http://test",
            "http://auth.test.example.com",
            "HTTPS://x.com",
            "Https://x.com",
            "HTTP://127.0.0.1:8080",
        ] {
            s.server.public_url = Some(bad.into());
            assert_eq!(problem(s.check("t")).key, "server.public_url", "{bad}");
        }
    }

    #[test]
    fn secret_references_are_expanded_from_the_environment() {
        use secrecy::ExposeSecret;
        // SAFETY: test-only, single-threaded access to a variable no other test reads.
        unsafe { std::env::set_var("BRAID_TEST_SECRET_X", "abc") };
        let s = SecretString::from("pre-${BRAID_TEST_SECRET_X}-post".to_owned());
        let got = resolve_secret(Some(&s), None, "clients[0].secret").unwrap().unwrap();
        assert_eq!(got.expose_secret(), "pre-abc-post");
        let missing = SecretString::from("${BRAID_TEST_SECRET_MISSING}".to_owned());
        let err = resolve_secret(Some(&missing), None, "clients[0].secret").unwrap_err();
        assert!(err.contains("BRAID_TEST_SECRET_MISSING"), "{err}");
    }
}
