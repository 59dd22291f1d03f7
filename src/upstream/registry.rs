//! Provider files (`providers/<id>.toml`) and the registry of providers read from them, with a
//! precise message (file, key, reason) for every problem.

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::SecretString;

pub use super::definition::{ClaimMap, NewIdentityPolicy, ProviderDefinition, ProviderKind, TokenAuth};
use crate::config::ConfigProblem;

/// Settings of an OAuth 2.0 provider (presets applied).
#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    /// The issuer its identities carry (GitHub: `https://github.com`).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// The endpoint describing the signed-in user.
    pub userinfo_url: String,
    /// A GitHub-style list of the user's emails with `primary` and `verified`.
    pub emails_url: Option<String>,
    /// braid's client id there.
    pub client_id: String,
    /// braid's client secret there.
    pub client_secret: Option<SecretString>,
    /// Token endpoint authentication.
    pub token_auth: TokenAuth,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Field of the user answer holding the stable subject (GitHub: the numeric `id`).
    pub subject_field: String,
    /// Field holding the email (used when there is no emails list).
    pub email_field: String,
    /// Field saying the email is verified (`true` or `"true"`); without it, never verified.
    pub email_verified_field: Option<String>,
    /// Field holding the display name.
    pub name_field: String,
    /// Name of the parameter that carries a login hint upstream.
    pub login_hint_param: String,
    /// The provider honours `prompt=login` (re-authenticates the person): braid may then answer
    /// a client's `prompt=login` or `max_age` through it. Without it those get `login_required`.
    pub can_force_login: bool,
    /// Other authorization parameters.
    pub extra_params: Vec<(String, String)>,
    /// Fields kept on the identity.
    pub keep: Vec<String>,
}

/// Settings of an OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer, compared byte for byte; may hold `{tenantid}` (Entra ID multi-tenant).
    pub issuer: String,
    /// Where the discovery document is.
    pub discovery_url: String,
    /// braid's client id there.
    pub client_id: String,
    /// braid's client secret there (none: a public client with PKCE).
    pub client_secret: Option<SecretString>,
    /// Token endpoint authentication.
    pub token_auth: TokenAuth,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Fetch userinfo and merge it.
    pub userinfo: bool,
    /// `prompt` sent upstream (link flows force `login`).
    pub prompt: Option<String>,
    /// `domain_hint` sent upstream.
    pub domain_hint: Option<String>,
    /// Other authorization parameters sent upstream.
    pub extra_params: Vec<(String, String)>,
    /// Allowed clock difference for `exp`, `iat`, in seconds.
    pub clock_skew_secs: i64,
    /// Claim mapping.
    pub claims: ClaimMap,
}

/// What a provider speaks, with its settings.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// The demo provider.
    Dev,
    /// OpenID Connect, with its client (discovery and key caches).
    Oidc(std::sync::Arc<super::oidc::OidcClient>),
    /// OAuth 2.0 without OpenID Connect.
    OAuth2(std::sync::Arc<super::oauth2::OAuth2Client>),
    /// SAML 2.0, with its IdP metadata cache.
    Saml(std::sync::Arc<super::saml::SamlClient>),
}

/// A provider braid can sign people in with.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its id (file stem unless given): used in paths such as `/login/{id}`.
    pub id: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Name on the chooser.
    pub display_name: String,
    /// Whether it may be used at all.
    pub enabled: bool,
    /// Policy for unknown identities.
    pub on_new_identity: NewIdentityPolicy,
    /// Whether its verified-email claim is believed.
    pub trust_email: bool,
    /// Link by email without proof (dangerous).
    pub auto_link: bool,
    /// Whether identities from it may sign in.
    pub can_sign_in: bool,
    /// Email domains routed to it on the chooser.
    pub domains: Vec<String>,
    /// The issuer its identities carry (for OIDC, the configured issuer).
    pub issuer: String,
    /// Protocol and its settings.
    pub protocol: Protocol,
    /// The file it came from.
    pub source: String,
}

impl Provider {
    /// Whether it appears on the chooser and accepts sign-ins.
    pub fn usable(&self) -> bool {
        self.enabled && self.can_sign_in
    }
}

/// Every provider, by id.
#[derive(Debug, Clone, Default)]
pub struct Providers(BTreeMap<String, Provider>);

impl Providers {
    /// A provider by id, only if enabled: a disabled or unknown provider is refused on every path.
    pub fn enabled(&self, id: &str) -> Option<&Provider> {
        self.0.get(id).filter(|p| p.enabled)
    }

    /// Providers that may be used to sign in, in id order.
    pub fn usable(&self) -> impl Iterator<Item = &Provider> {
        self.0.values().filter(|p| p.usable())
    }

    /// Every provider, enabled or not.
    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.0.values()
    }

    /// The ids of the providers identities can sign in through now.
    pub fn sign_in_providers(&self) -> crate::accounts::SignInProviders {
        crate::accounts::SignInProviders::new(self.usable().map(|p| p.id.clone()))
    }

    /// Build from a list (tests, admin).
    pub fn from_list(list: Vec<Provider>) -> Self {
        Self(list.into_iter().map(|p| (p.id.clone(), p)).collect())
    }
}

fn valid_id(id: &str) -> bool {
    // `link-proof` is one of braid's own paths under /login.
    id != "link-proof"
        && !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parse one provider file.
pub fn parse_file(path: &Path, text: &str) -> Result<Provider, Vec<ConfigProblem>> {
    let source = path.display().to_string();
    let problem = |key: &str, reason: String| ConfigProblem { source: source.clone(), key: key.into(), reason };
    let file: ProviderDefinition = toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map(|before| format!("line {}", before.matches('\n').count() + 1))
            .unwrap_or_else(|| "-".into());
        vec![problem(&key, e.message().to_owned())]
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let id = file.id.clone().unwrap_or(stem);
    build(file, id, path, source)
}

/// Parse a provider definition given as JSON (the admin service): the keys of a provider file,
/// checked by the same code. `id` is the provider's id (a definition's own `id`, if any, must
/// equal it); relative file names are read beside `path` (in the providers directory). A problem's
/// key is dotted (`claims.subject`, `domains[0]`), naming the offending member.
pub fn parse_definition(
    id: &str,
    definition: &serde_json::Value,
    path: &Path,
    source: &str,
) -> Result<Provider, Vec<ConfigProblem>> {
    let problem = |key: &str, reason: String| ConfigProblem { source: source.to_owned(), key: key.into(), reason };
    let file: ProviderDefinition = serde_path_to_error::deserialize(definition).map_err(|e| {
        let mut key = e.path().to_string();
        let inner = e.inner().to_string();
        // A missing member is reported at its parent: name the member itself.
        if let Some(name) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            key = if key == "." { name.to_owned() } else { format!("{key}.{name}") };
        }
        vec![problem(if key == "." { "-" } else { &key }, inner)]
    })?;
    if file.id.as_deref().is_some_and(|given| given != id) {
        return Err(vec![problem("id", format!("the definition names another id than `{id}`"))]);
    }
    build(file, id.to_owned(), path, source.to_owned())
}

fn build(
    mut file: ProviderDefinition,
    id: String,
    path: &Path,
    source: String,
) -> Result<Provider, Vec<ConfigProblem>> {
    // A relative `client_secret_file` is read beside the provider file, as SAML's files are.
    file.client_secret_file = file.client_secret_file.map(|f| super::saml::settings::beside(path, &f));
    let problem = |key: &str, reason: String| ConfigProblem { source: source.clone(), key: key.into(), reason };
    let mut problems = Vec::new();
    if !valid_id(&id) {
        problems.push(problem("id", format!("`{id}` must be 1-64 of a-z, 0-9, - and _")));
    }
    let given: [(&str, bool); 35] = [
        ("can_force_login", file.can_force_login.is_some()),
        ("idp_metadata_file", file.idp_metadata_file.is_some()),
        ("idp_metadata_url", file.idp_metadata_url.is_some()),
        ("entity_id", file.entity_id.is_some()),
        ("subject_attribute", file.subject_attribute.is_some()),
        ("want_assertions_signed", file.want_assertions_signed.is_some()),
        ("allow_idp_initiated", file.allow_idp_initiated.is_some()),
        ("sign_requests", file.sign_requests.is_some()),
        ("signed_requests_per_sec", file.signed_requests_per_sec.is_some()),
        ("signed_requests_burst", file.signed_requests_burst.is_some()),
        ("allow_cbc_encryption", file.allow_cbc_encryption.is_some()),
        ("metadata_signing_cert", file.metadata_signing_cert.is_some()),
        ("metadata_refresh_secs", file.metadata_refresh_secs.is_some()),
        ("issuer", file.issuer.is_some()),
        ("discovery_url", file.discovery_url.is_some()),
        ("client_id", file.client_id.is_some()),
        ("client_secret", file.client_secret.is_some()),
        ("client_secret_file", file.client_secret_file.is_some()),
        ("token_auth", file.token_auth.is_some()),
        ("scopes", file.scopes.is_some()),
        ("userinfo", file.userinfo.is_some()),
        ("prompt", file.prompt.is_some()),
        ("domain_hint", file.domain_hint.is_some()),
        ("extra_params", file.extra_params.is_some()),
        ("clock_skew_secs", file.clock_skew_secs.is_some()),
        ("claims", file.claims.is_some()),
        ("preset", file.preset.is_some()),
        ("authorize_url", file.authorize_url.is_some()),
        ("token_url", file.token_url.is_some()),
        ("userinfo_url", file.userinfo_url.is_some()),
        ("emails_url", file.emails_url.is_some()),
        ("subject_field", file.subject_field.is_some()),
        ("email_field", file.email_field.is_some()),
        ("email_verified_field", file.email_verified_field.is_some()),
        ("name_field", file.name_field.is_some()),
    ];
    let allowed: &[&str] = match file.kind {
        ProviderKind::Dev => &[],
        ProviderKind::Oidc => &[
            "issuer",
            "discovery_url",
            "client_id",
            "client_secret",
            "client_secret_file",
            "token_auth",
            "scopes",
            "userinfo",
            "prompt",
            "domain_hint",
            "extra_params",
            "clock_skew_secs",
            "claims",
        ],
        ProviderKind::Oauth2 => &[
            "issuer",
            "client_id",
            "client_secret",
            "client_secret_file",
            "token_auth",
            "scopes",
            "extra_params",
            "claims",
            "preset",
            "authorize_url",
            "token_url",
            "userinfo_url",
            "emails_url",
            "subject_field",
            "email_field",
            "email_verified_field",
            "name_field",
            "can_force_login",
        ],
        ProviderKind::Saml => &[
            "issuer",
            "idp_metadata_file",
            "idp_metadata_url",
            "entity_id",
            "subject_attribute",
            "want_assertions_signed",
            "allow_idp_initiated",
            "sign_requests",
            "signed_requests_per_sec",
            "signed_requests_burst",
            "allow_cbc_encryption",
            "metadata_signing_cert",
            "metadata_refresh_secs",
            "clock_skew_secs",
            "claims",
        ],
    };
    for (key, is_given) in given {
        if is_given && !allowed.contains(&key) {
            problems.push(problem(key, format!("not a setting of `{}` providers", file.kind.as_str())));
        }
    }
    // Durations, whichever kind takes them: beyond an hour of skew expiry means little, and
    // metadata is read at least monthly.
    for (key, value, range) in [
        ("clock_skew_secs", file.clock_skew_secs, 0..=3600),
        ("metadata_refresh_secs", file.metadata_refresh_secs, 60..=30 * 24 * 3600),
    ] {
        if let Some(secs) = value.filter(|s| !range.contains(s)) {
            let (lo, hi) = range.into_inner();
            problems.push(problem(key, format!("must be between {lo} and {hi} seconds, not {secs}")));
        }
    }
    let (issuer, protocol) = match file.kind {
        ProviderKind::Dev => (super::dev::issuer(&id), Protocol::Dev),
        ProviderKind::Oidc => match oidc_settings(&file, &mut problems, &problem) {
            Some(o) => (o.issuer.clone(), Protocol::Oidc(std::sync::Arc::new(super::oidc::OidcClient::new(&id, o)))),
            None => (String::new(), Protocol::Dev),
        },
        ProviderKind::Oauth2 => match oauth2_settings(&file, &mut problems, &problem) {
            Some(o) => (
                o.issuer.clone(),
                Protocol::OAuth2(std::sync::Arc::new(super::oauth2::OAuth2Client {
                    settings: o,
                    provider: id.as_str().into(),
                })),
            ),
            None => (String::new(), Protocol::Dev),
        },
        ProviderKind::Saml => match super::saml::settings::from_keys(saml_keys(&file), path, &mut problems, &problem) {
            Some(s) => (s.issuer.clone(), Protocol::Saml(std::sync::Arc::new(super::saml::SamlClient::new(&id, s)))),
            None => (String::new(), Protocol::Dev),
        },
    };
    if file.auto_link && file.on_new_identity != NewIdentityPolicy::LinkByEmail {
        problems.push(problem("auto_link", "only meaningful with on_new_identity = \"link_by_email\"".into()));
    }
    for (i, d) in file.domains.iter().enumerate() {
        if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
            problems.push(problem(&format!("domains[{i}]"), format!("`{d}` is not a domain name")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Provider {
        display_name: file.display_name.unwrap_or_else(|| id.clone()),
        id,
        kind: file.kind,
        enabled: file.enabled,
        on_new_identity: file.on_new_identity,
        trust_email: file.trust_email,
        auto_link: file.auto_link,
        can_sign_in: file.can_sign_in,
        domains: file.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        issuer,
        protocol,
        source,
    })
}

fn oidc_settings(
    file: &ProviderDefinition,
    problems: &mut Vec<ConfigProblem>,
    problem: &dyn Fn(&str, String) -> ConfigProblem,
) -> Option<OidcSettings> {
    let start = problems.len();
    let issuer = file.issuer.clone().unwrap_or_default();
    match url::Url::parse(&issuer.replace("{tenantid}", "tenant")) {
        _ if issuer.is_empty() => problems.push(problem("issuer", "required for `oidc` providers".into())),
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {}
        _ => problems.push(problem("issuer", format!("`{issuer}` must be an https URL (http only on loopback)"))),
    }
    let discovery_url = match &file.discovery_url {
        Some(d) => {
            check_url("discovery_url", d, problems, problem);
            d.clone()
        }
        None if issuer.contains("{tenantid}") => {
            problems.push(problem("discovery_url", "required when the issuer holds {tenantid}".into()));
            String::new()
        }
        None => format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
    };
    let (client_id, client_secret) = client_credentials(file, "oidc", problems, problem);
    let scopes = file.scopes.clone().unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if !scopes.iter().any(|s| s == "openid") {
        problems.push(problem("scopes", "must include `openid`".into()));
    }
    let extra_params: Vec<(String, String)> = file.extra_params.clone().unwrap_or_default().into_iter().collect();
    const RESERVED: [&str; 9] = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
    ];
    for (k, _) in &extra_params {
        if RESERVED.contains(&k.as_str()) {
            problems.push(problem(&format!("extra_params.{k}"), "braid sets this parameter itself".into()));
        }
    }
    if problems.len() > start {
        return None;
    }
    Some(OidcSettings {
        issuer,
        discovery_url,
        client_id,
        client_secret,
        token_auth: file.token_auth.unwrap_or_default(),
        scopes,
        userinfo: file.userinfo.unwrap_or(false),
        prompt: file.prompt.clone(),
        domain_hint: file.domain_hint.clone(),
        extra_params,
        clock_skew_secs: i64::try_from(file.clock_skew_secs.unwrap_or(60)).unwrap_or(60),
        claims: file.claims.clone().unwrap_or_default(),
    })
}

fn saml_keys(file: &ProviderDefinition) -> super::saml::settings::SamlKeys<'_> {
    super::saml::settings::SamlKeys {
        issuer: file.issuer.as_deref(),
        idp_metadata_file: file.idp_metadata_file.as_deref(),
        idp_metadata_url: file.idp_metadata_url.as_deref(),
        metadata_signing_cert: file.metadata_signing_cert.as_deref(),
        entity_id: file.entity_id.as_deref(),
        subject_attribute: file.subject_attribute.as_deref(),
        want_assertions_signed: file.want_assertions_signed,
        allow_idp_initiated: file.allow_idp_initiated,
        sign_requests: file.sign_requests,
        signed_requests_per_sec: file.signed_requests_per_sec,
        signed_requests_burst: file.signed_requests_burst,
        allow_cbc_encryption: file.allow_cbc_encryption,
        metadata_refresh_secs: file.metadata_refresh_secs,
        clock_skew_secs: file.clock_skew_secs,
        claims: file.claims.as_ref(),
        on_new_identity: file.on_new_identity,
    }
}

/// `client_id` (required) and the secret from `client_secret` or `client_secret_file`.
fn client_credentials(
    file: &ProviderDefinition,
    kind: &str,
    problems: &mut Vec<ConfigProblem>,
    problem: &dyn Fn(&str, String) -> ConfigProblem,
) -> (String, Option<SecretString>) {
    let client_id = file.client_id.clone().unwrap_or_default();
    if client_id.is_empty() {
        problems.push(problem("client_id", format!("required for `{kind}` providers")));
    }
    if file.client_secret.is_some() && file.client_secret_file.is_some() {
        problems.push(problem("client_secret_file", "give `client_secret` or `client_secret_file`, not both".into()));
    }
    let secret =
        crate::config::resolve_secret(file.client_secret.as_ref(), file.client_secret_file.as_deref(), "client_secret")
            .unwrap_or_else(|e| {
                problems.push(problem(
                    if file.client_secret_file.is_some() { "client_secret_file" } else { "client_secret" },
                    e,
                ));
                None
            });
    // An empty secret is an unset `${ENV}` or a placeholder: never sent upstream.
    if secret.as_ref().is_some_and(|s| secrecy::ExposeSecret::expose_secret(s).trim().is_empty()) {
        let key = if file.client_secret_file.is_some() { "client_secret_file" } else { "client_secret" };
        problems.push(problem(key, "the client secret is empty (an unset environment variable?)".into()));
    }
    (client_id, secret)
}

/// An https URL, or http on loopback; else a problem for `key`.
pub(crate) fn check_url(
    key: &str,
    v: &str,
    problems: &mut Vec<ConfigProblem>,
    problem: &dyn Fn(&str, String) -> ConfigProblem,
) {
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {}
        _ => problems.push(problem(key, format!("`{v}` must be an https URL (http only on loopback)"))),
    }
}

fn oauth2_settings(
    file: &ProviderDefinition,
    problems: &mut Vec<ConfigProblem>,
    problem: &dyn Fn(&str, String) -> ConfigProblem,
) -> Option<OAuth2Settings> {
    let start = problems.len();
    // (issuer, authorize, token, user, emails, subject, scopes, login hint parameter)
    let preset = match file.preset.as_deref() {
        None => None,
        Some("github") => Some((
            "https://github.com",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            Some("https://api.github.com/user/emails"),
            "id",
            vec!["read:user".to_owned(), "user:email".to_owned()],
            "login",
        )),
        Some(other) => {
            problems.push(problem("preset", format!("unknown preset `{other}` (known: github)")));
            return None;
        }
    };
    let pick =
        |given: &Option<String>, from_preset: Option<&str>, key: &str, problems: &mut Vec<ConfigProblem>| match given
            .clone()
            .or_else(|| from_preset.map(str::to_owned))
        {
            Some(v) => v,
            None => {
                problems.push(problem(key, "required for `oauth2` providers without a preset".into()));
                String::new()
            }
        };
    // A preset pointed at other endpoints (GitHub Enterprise) is another issuer: its user ids
    // must never land on github.com's identities.
    let endpoints_overridden = file.authorize_url.is_some() || file.token_url.is_some() || file.userinfo_url.is_some();
    if preset.is_some() && endpoints_overridden && file.issuer.is_none() {
        problems.push(problem(
            "issuer",
            "required when a preset's endpoints are overridden (another server is another issuer)".into(),
        ));
    }
    let issuer = pick(&file.issuer, preset.as_ref().map(|p| p.0), "issuer", problems);
    let authorize_url = pick(&file.authorize_url, preset.as_ref().map(|p| p.1), "authorize_url", problems);
    let token_url = pick(&file.token_url, preset.as_ref().map(|p| p.2), "token_url", problems);
    let userinfo_url = pick(&file.userinfo_url, preset.as_ref().map(|p| p.3), "userinfo_url", problems);
    let subject_field = pick(&file.subject_field, preset.as_ref().map(|p| p.5), "subject_field", problems);
    for (key, v) in [("authorize_url", &authorize_url), ("token_url", &token_url), ("userinfo_url", &userinfo_url)] {
        if !v.is_empty() {
            check_url(key, v, problems, problem);
        }
    }
    if issuer.is_empty() || issuer.contains(char::is_whitespace) {
        problems.push(problem("issuer", "must name the provider (a URL such as https://github.com)".into()));
    }
    let emails_url = file.emails_url.clone().or_else(|| preset.as_ref().and_then(|p| p.4.map(str::to_owned)));
    if let Some(e) = &emails_url {
        check_url("emails_url", e, problems, problem);
    }
    let (client_id, client_secret) = client_credentials(file, "oauth2", problems, problem);
    if problems.len() > start {
        return None;
    }
    Some(OAuth2Settings {
        issuer,
        authorize_url,
        token_url,
        userinfo_url,
        emails_url,
        client_id,
        client_secret,
        token_auth: file.token_auth.unwrap_or_default(),
        scopes: file.scopes.clone().or_else(|| preset.as_ref().map(|p| p.6.clone())).unwrap_or_default(),
        subject_field,
        email_field: file.email_field.clone().unwrap_or_else(|| "email".into()),
        email_verified_field: file.email_verified_field.clone(),
        name_field: file.name_field.clone().unwrap_or_else(|| "name".into()),
        login_hint_param: preset.as_ref().map_or("login_hint", |p| p.7).to_owned(),
        can_force_login: file.can_force_login.unwrap_or(false),
        extra_params: file.extra_params.clone().unwrap_or_default().into_iter().collect(),
        keep: file.claims.as_ref().map(|c| c.keep.clone()).unwrap_or_default(),
    })
}

/// Whether an issuer presented by a provider (an `iss` response parameter, a token's `iss`) is
/// the configured one, with `{tenantid}` matching one path segment of a tenant id's characters.
pub fn issuer_matches(configured: &str, iss: &str) -> bool {
    match configured.split_once("{tenantid}") {
        None => configured == iss,
        Some((pre, post)) => iss
            .strip_prefix(pre)
            .and_then(|rest| rest.strip_suffix(post))
            .is_some_and(|tid| !tid.is_empty() && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')),
    }
}

/// Whether two configured issuers can name the same identities: equal, one a `{tenantid}`
/// template that can produce the other, or two templates that can produce one same issuer.
pub fn issuers_overlap(a: &str, b: &str) -> bool {
    if a == b || issuer_matches(a, b) || issuer_matches(b, a) {
        return true;
    }
    match (a.split_once("{tenantid}"), b.split_once("{tenantid}")) {
        // Both templates: some issuer fits both exactly when the longer prefix extends the
        // shorter one, and the longer suffix the shorter one, by tenant-id characters only (the
        // extra characters then belong to the other template's tenant id).
        (Some((pa, sa)), Some((pb, sb))) => {
            let tid = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let prefix_ok = match (pa.strip_prefix(pb), pb.strip_prefix(pa)) {
                (Some(extra), _) | (_, Some(extra)) => tid(extra),
                _ => false,
            };
            let suffix_ok = match (sa.strip_suffix(sb), sb.strip_suffix(sa)) {
                (Some(extra), _) | (_, Some(extra)) => tid(extra),
                _ => false,
            };
            prefix_ok && suffix_ok
        }
        _ => false,
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_provider_file_parses_with_defaults() {
        let p = parse_file(Path::new("providers/dev.toml"), "kind = \"dev\"\ndisplay_name = \"Demo\"\n").unwrap();
        assert_eq!(p.id, "dev");
        assert_eq!(p.issuer, "urn:braid:dev:dev");
        assert!(p.enabled && p.can_sign_in);
        assert_eq!(p.on_new_identity, NewIdentityPolicy::Create);
    }

    #[test]
    fn tenant_templates_overlap_every_issuer_they_can_produce() {
        let t = "https://login.example/{tenantid}/v2.0";
        assert!(issuers_overlap(t, "https://login.example/9188040d-6c67/v2.0"));
        assert!(issuers_overlap("https://login.example/9188040d-6c67/v2.0", t));
        assert!(issuers_overlap(t, t));
        assert!(issuers_overlap(t, "https://login.example/{tenantid}/v2.0"));
        assert!(!issuers_overlap(t, "https://login.example/a/b/v2.0"));
        assert!(!issuers_overlap(t, "https://other.example/abc/v2.0"));
        assert!(!issuers_overlap("https://a.example", "https://b.example"));
        // Two templates overlap when one issuer fits both ("https://azb.example" here).
        assert!(issuers_overlap("https://a{tenantid}.example", "https://{tenantid}b.example"));
        assert!(!issuers_overlap("https://login.example/{tenantid}", "https://login.example/{tenantid}/v2.0"));
        assert!(!issuers_overlap("https://login.example/{tenantid}/v1", "https://login.example/{tenantid}/v2"));
    }

    #[test]
    fn bad_provider_files_name_file_key_and_reason() {
        let e = parse_file(Path::new("providers/x.toml"), "kind = \"dev\"\nenabeld = true\n").unwrap_err();
        assert_eq!(e[0].source, "providers/x.toml");
        assert_eq!(e[0].key, "line 2");
        assert!(e[0].reason.contains("enabeld"), "{}", e[0].reason);
        let e = parse_file(Path::new("providers/Bad Id.toml"), "kind = \"dev\"\n").unwrap_err();
        assert_eq!(e[0].key, "id");
    }
}
