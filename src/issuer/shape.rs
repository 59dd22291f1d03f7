//! How one client's tokens look: the algorithm of its ID and access tokens, and the `sub` it sees,
//! public (the account id) or pairwise (OIDC Core §8.1): base64url HMAC-SHA256, under braid's
//! pairwise secret (`keys/pairwise-secret`), of the client's sector and the account id.

use std::path::Path;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::KeyError;
use crate::config::{ClientSettings, SigningAlg};
use crate::state::AppState;

/// The pairwise secret's file name in the keys directory.
pub const SECRET_FILE: &str = "pairwise-secret";

/// The `subject_type` of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// `sub` is the account id, the same for every client.
    #[default]
    Public,
    /// `sub` is a hash of the client's sector and the account id.
    Pairwise,
}

impl SubjectType {
    /// The metadata name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

/// How a client's tokens look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenShape {
    /// Algorithm of its ID tokens; `None`: `[keys] algorithm`.
    pub id_token_alg: Option<SigningAlg>,
    /// Algorithm of its access tokens; `None`: `[keys] algorithm`.
    pub access_token_alg: Option<SigningAlg>,
    /// The sector of its pairwise subjects; `None`: public subjects.
    pub pairwise_sector: Option<String>,
}

impl TokenShape {
    /// The shape a `[[clients]]` entry asks for; a problem names the key (`sector_identifier`, …).
    pub fn of_settings(c: &ClientSettings) -> Result<Self, (&'static str, String)> {
        Self::of_parts(
            c.id_token_signed_response_alg,
            c.access_token_signed_response_alg,
            c.subject_type,
            c.sector_identifier.as_deref(),
            &c.redirect_uris,
        )
    }

    /// The shape of these settings (shared by `[[clients]]` and the admin catalog).
    pub fn of_parts(
        id_token_alg: Option<SigningAlg>,
        access_token_alg: Option<SigningAlg>,
        subject_type: SubjectType,
        sector_identifier: Option<&str>,
        redirect_uris: &[String],
    ) -> Result<Self, (&'static str, String)> {
        let pairwise_sector = match subject_type {
            SubjectType::Public if sector_identifier.is_some() => {
                return Err((
                    "sector_identifier",
                    "a sector is only for pairwise subjects: set `subject_type = \"pairwise\"` or remove it".into(),
                ));
            }
            SubjectType::Public => None,
            SubjectType::Pairwise => Some(sector_of(sector_identifier, redirect_uris)?),
        };
        Ok(Self { id_token_alg, access_token_alg, pairwise_sector })
    }

    /// The subject type.
    pub fn subject_type(&self) -> SubjectType {
        if self.pairwise_sector.is_some() { SubjectType::Pairwise } else { SubjectType::Public }
    }
}

/// The sector of a pairwise client: the host of `sector_identifier` (a host name, or a URL),
/// else the one host every redirect URI shares.
pub fn sector_of(sector_identifier: Option<&str>, redirect_uris: &[String]) -> Result<String, (&'static str, String)> {
    if let Some(s) = sector_identifier {
        let bad = || {
            (
                "sector_identifier",
                format!("`{s}` is neither a host name (apps.example.com) nor an https URL with a host"),
            )
        };
        let host = if s.contains("://") {
            let u = url::Url::parse(s).map_err(|_| bad())?;
            if u.scheme() != "https" && crate::config::check_redirect_uri(s).is_err() {
                return Err(bad());
            }
            u.host_str().map(str::to_owned).ok_or_else(bad)?
        } else {
            match url::Host::parse(s) {
                Ok(h) if !s.is_empty() && !s.contains(['/', ':', '@', '?', '#']) => h.to_string(),
                _ => return Err(bad()),
            }
        };
        return Ok(host.to_ascii_lowercase());
    }
    let mut hosts: Vec<String> = Vec::new();
    for u in redirect_uris {
        let host =
            url::Url::parse(u).ok().and_then(|p| p.host_str().map(str::to_ascii_lowercase)).ok_or_else(|| {
                (
                    "sector_identifier",
                    format!(
                        "pairwise subjects need a sector: the redirect URI `{u}` has no host; set `sector_identifier`"
                    ),
                )
            })?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    match hosts.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(("sector_identifier", "pairwise subjects need a sector: set `sector_identifier`".into())),
        many => Err((
            "sector_identifier",
            format!(
                "the redirect URIs are on {} hosts ({}): pairwise subjects need one sector, so set \
                 `sector_identifier` (OpenID Connect Core §8.1)",
                many.len(),
                many.join(", ")
            ),
        )),
    }
}

/// braid's pairwise secret: 32 random bytes made on first start in the keys directory (race-safe
/// between replicas sharing it) and never rotated, since every pairwise `sub` depends on it.
pub struct PairwiseSecret(hmac::Key);

impl std::fmt::Debug for PairwiseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairwiseSecret(..)")
    }
}

impl PairwiseSecret {
    /// Read `dir/pairwise-secret`, making it first if absent.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(SECRET_FILE);
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
            let text = format!("{}\n", crate::ids::random_token(32));
            super::keys::write_once(dir, SECRET_FILE, text.as_bytes())?;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Io { path: path.clone(), source })?;
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok().filter(|b| b.len() >= 32).ok_or_else(|| {
            KeyError::Bad { path: path.clone(), reason: "not a pairwise secret (at least 32 bytes, base64url)".into() }
        })?;
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// The pairwise `sub` of `account` in `sector`.
    pub fn subject(&self, sector: &str, account: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(sector.as_bytes());
        ctx.update(b"\0");
        ctx.update(account.as_bytes());
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }
}

/// The `sub` a client of `shape` sees for `account`.
pub fn subject(state: &AppState, shape: &TokenShape, account: &str) -> String {
    subject_with(&state.keys, shape, account)
}

/// The same, with the key ring alone (for workers without the app state).
pub fn subject_with(keys: &super::keyring::KeyRing, shape: &TokenShape, account: &str) -> String {
    match &shape.pairwise_sector {
        Some(sector) => keys.pairwise().subject(sector, account),
        None => account.to_owned(),
    }
}

/// Whether an `id_token_hint` (claims braid verified) names `account`: its `sub` is the one its
/// audience sees for the account (a pairwise one for a pairwise client). A hint whose client is
/// gone is compared as public.
pub fn hint_names(state: &AppState, claims: &Map<String, Value>, account: &str) -> bool {
    let Some(sub) = claims.get("sub").and_then(Value::as_str) else { return false };
    let client = claims.get("aud").and_then(Value::as_str).and_then(|aud| state.clients.get(aud));
    let shape = client.map(|c| c.token_shape.clone()).unwrap_or_default();
    subject(state, &shape, account) == sub
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_sector_is_the_one_host_of_the_redirect_uris_or_the_sector_identifier() {
        let one = uris(&["https://App.example/cb", "https://app.example:8443/other"]);
        assert_eq!(sector_of(None, &one).unwrap(), "app.example");
        let two = uris(&["https://a.example/cb", "https://b.example/cb"]);
        let (key, reason) = sector_of(None, &two).unwrap_err();
        assert_eq!(key, "sector_identifier");
        assert!(reason.contains("2 hosts (a.example, b.example)"), "{reason}");
        assert_eq!(sector_of(Some("apps.example"), &two).unwrap(), "apps.example");
        assert_eq!(sector_of(Some("https://apps.example/sector.json"), &two).unwrap(), "apps.example");
        for bad in ["", "http://apps.example/x", "apps example", "https://", "a/b"] {
            assert!(sector_of(Some(bad), &two).is_err(), "{bad}");
        }
        assert!(sector_of(None, &uris(&["com.example.app:/cb"])).is_err());
    }

    #[test]
    fn a_sector_without_pairwise_is_refused() {
        let r = TokenShape::of_parts(None, None, SubjectType::Public, Some("a.example"), &uris(&["https://a/cb"]));
        assert_eq!(r.unwrap_err().0, "sector_identifier");
    }

    #[test]
    fn pairwise_subjects_are_stable_per_secret_and_differ_per_sector_and_account() {
        let dir = tempfile::tempdir().unwrap();
        let a = PairwiseSecret::load_or_create(dir.path()).unwrap();
        let b = PairwiseSecret::load_or_create(dir.path()).unwrap();
        let s = a.subject("app.example", "acc1");
        assert_eq!(s, b.subject("app.example", "acc1"), "the secret persists");
        assert_eq!(s.len(), 43);
        assert_ne!(s, a.subject("other.example", "acc1"));
        assert_ne!(s, a.subject("app.example", "acc2"));
        let other = tempfile::tempdir().unwrap();
        assert_ne!(s, PairwiseSecret::load_or_create(other.path()).unwrap().subject("app.example", "acc1"));
    }
}
