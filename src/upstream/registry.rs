//! Provider files (`providers/<id>.toml`) and the registry of providers read from them, with a
//! precise message (file, key, reason) for every problem.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::ConfigProblem;

/// What happens when an identity braid has never seen signs in (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NewIdentityPolicy {
    /// A new account with the identity as its primary.
    #[default]
    Create,
    /// Link to the one account with the same verified email, after proof (later issue).
    LinkByEmail,
    /// No account is made: a link-only provider.
    Reject,
}

/// The protocol of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenID Connect.
    Oidc,
    /// OAuth 2.0 social login.
    Oauth2,
    /// SAML 2.0.
    Saml,
    /// The built-in demo provider.
    Dev,
}

/// A provider file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    id: Option<String>,
    kind: ProviderKind,
    display_name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    on_new_identity: NewIdentityPolicy,
    #[serde(default)]
    trust_email: bool,
    #[serde(default)]
    auto_link: bool,
    #[serde(default = "yes")]
    can_sign_in: bool,
    #[serde(default)]
    domains: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A provider braid can sign people in with.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The issuer its identities carry.
    pub issuer: String,
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

    /// Build from a list (tests, admin).
    pub fn from_list(list: Vec<Provider>) -> Self {
        Self(list.into_iter().map(|p| (p.id.clone(), p)).collect())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parse one provider file.
pub fn parse_file(path: &Path, text: &str) -> Result<Provider, Vec<ConfigProblem>> {
    let source = path.display().to_string();
    let problem = |key: &str, reason: String| ConfigProblem { source: source.clone(), key: key.into(), reason };
    let file: ProviderFile = toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map(|before| format!("line {}", before.matches('\n').count() + 1))
            .unwrap_or_else(|| "-".into());
        vec![problem(&key, e.message().to_owned())]
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let id = file.id.clone().unwrap_or(stem);
    let mut problems = Vec::new();
    if !valid_id(&id) {
        problems.push(problem("id", format!("`{id}` must be 1-64 of a-z, 0-9, - and _")));
    }
    let issuer = match file.kind {
        ProviderKind::Dev => super::dev::issuer(&id),
        other => {
            problems.push(problem(
                "kind",
                format!("`{}` providers are not available in this version of braid", kind_name(other)),
            ));
            String::new()
        }
    };
    if file.on_new_identity == NewIdentityPolicy::LinkByEmail {
        problems.push(problem("on_new_identity", "`link_by_email` is not available in this version of braid".into()));
    }
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
    })
}

fn kind_name(k: ProviderKind) -> &'static str {
    match k {
        ProviderKind::Oidc => "oidc",
        ProviderKind::Oauth2 => "oauth2",
        ProviderKind::Saml => "saml",
        ProviderKind::Dev => "dev",
    }
}

/// Read every `*.toml` directly in `dir` (a missing directory means no providers). Returns the
/// providers and every problem found; files with problems are left out.
pub fn load_dir(dir: &Path) -> (Providers, Vec<ConfigProblem>) {
    let mut providers = BTreeMap::new();
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Providers::default(), problems),
        Err(e) => {
            problems.push(ConfigProblem { source: dir.display().to_string(), key: "-".into(), reason: e.to_string() });
            return (Providers::default(), problems);
        }
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(ConfigProblem { source: path.display().to_string(), key: "-".into(), reason: e.to_string() });
                continue;
            }
        };
        match parse_file(&path, &text) {
            Ok(p) => {
                if let Some(prev) = providers.get(&p.id) {
                    let prev: &Provider = prev;
                    problems.push(ConfigProblem {
                        source: path.display().to_string(),
                        key: "id".into(),
                        reason: format!("provider id `{}` is used by another file too", prev.id),
                    });
                    continue;
                }
                providers.insert(p.id.clone(), p);
            }
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    (Providers(providers), problems)
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
    fn bad_provider_files_name_file_key_and_reason() {
        let e = parse_file(Path::new("providers/x.toml"), "kind = \"dev\"\nenabeld = true\n").unwrap_err();
        assert_eq!(e[0].source, "providers/x.toml");
        assert_eq!(e[0].key, "line 2");
        assert!(e[0].reason.contains("enabeld"), "{}", e[0].reason);
        let e = parse_file(Path::new("providers/Bad Id.toml"), "kind = \"dev\"\n").unwrap_err();
        assert_eq!(e[0].key, "id");
    }
}
