//! The SAML keys of a provider file turned into `SamlSettings`, with a precise problem (file,
//! key, reason) for each wrong value: the metadata source (a file is read and checked now, so
//! that `braid check` and the reload name its problem), the metadata signing certificate, the
//! bound on signed AuthnRequests, and the combinations braid refuses.

use std::path::{Path, PathBuf};

use super::{MetadataSource, SamlSettings};
use crate::config::ConfigProblem;
use crate::upstream::{ClaimMap, NewIdentityPolicy};

/// Default refill of the signed-AuthnRequest bucket, requests per second per provider.
pub const DEFAULT_SIGNED_REQUESTS_PER_SEC: u32 = 20;
/// Default size of the signed-AuthnRequest bucket (a burst no person ever reaches).
pub const DEFAULT_SIGNED_REQUESTS_BURST: u32 = 50;

/// The SAML keys of one provider file, as written.
#[derive(Debug, Clone, Copy)]
pub struct SamlKeys<'a> {
    /// `issuer`.
    pub issuer: Option<&'a str>,
    /// `idp_metadata_file`.
    pub idp_metadata_file: Option<&'a Path>,
    /// `idp_metadata_url`.
    pub idp_metadata_url: Option<&'a str>,
    /// `metadata_signing_cert`.
    pub metadata_signing_cert: Option<&'a Path>,
    /// `entity_id`.
    pub entity_id: Option<&'a str>,
    /// `subject_attribute`.
    pub subject_attribute: Option<&'a str>,
    /// `want_assertions_signed`.
    pub want_assertions_signed: Option<bool>,
    /// `allow_idp_initiated`.
    pub allow_idp_initiated: Option<bool>,
    /// `sign_requests`.
    pub sign_requests: Option<bool>,
    /// `signed_requests_per_sec`.
    pub signed_requests_per_sec: Option<u64>,
    /// `signed_requests_burst`.
    pub signed_requests_burst: Option<u64>,
    /// `allow_cbc_encryption`.
    pub allow_cbc_encryption: Option<bool>,
    /// `metadata_refresh_secs` (its range is checked with the other durations).
    pub metadata_refresh_secs: Option<u64>,
    /// `clock_skew_secs` (its range is checked with the other durations).
    pub clock_skew_secs: Option<u64>,
    /// `claims`.
    pub claims: Option<&'a ClaimMap>,
    /// `on_new_identity`.
    pub on_new_identity: NewIdentityPolicy,
}

/// `f`, when relative, taken from the providers directory (the directory of the provider file
/// at `path`).
pub(crate) fn beside(path: &Path, f: &Path) -> PathBuf {
    if f.is_relative() { path.parent().unwrap_or(Path::new(".")).join(f) } else { f.to_owned() }
}

/// The certificates (DER) of a PEM file: one or more `CERTIFICATE` blocks.
pub fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs =
        openssl::x509::X509::stack_from_pem(&pem).map_err(|_| format!("{}: not a PEM certificate", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", path.display()));
    }
    certs.iter().map(|c| c.to_der().map_err(|e| format!("{}: {e}", path.display()))).collect()
}

/// Settings of a SAML provider file at `path`; `None` after pushing every problem found.
pub fn from_keys(
    keys: SamlKeys<'_>,
    path: &Path,
    problems: &mut Vec<ConfigProblem>,
    problem: &dyn Fn(&str, String) -> ConfigProblem,
) -> Option<SamlSettings> {
    let start = problems.len();
    let issuer = keys.issuer.unwrap_or_default().to_owned();
    if issuer.trim().is_empty() {
        problems.push(problem("issuer", "required for `saml` providers: the IdP's entityID".into()));
    }
    let metadata_signing_certs = match keys.metadata_signing_cert {
        Some(f) => match read_certificates(&beside(path, f)) {
            Ok(certs) => Some(certs),
            Err(e) => {
                problems.push(problem("metadata_signing_cert", e));
                None
            }
        },
        None => None,
    };
    let metadata = match (keys.idp_metadata_file, keys.idp_metadata_url) {
        (Some(f), None) => {
            let f = beside(path, f);
            // Checked now, so that `braid check` and the reload name the problem (unless the
            // signing certificate itself is already wrong).
            match std::fs::read_to_string(&f) {
                Ok(_)
                    if issuer.is_empty()
                        || (keys.metadata_signing_cert.is_some() && metadata_signing_certs.is_none()) => {}
                Ok(text) => {
                    if let Err(e) = super::metadata::parse(&text, &issuer, metadata_signing_certs.as_deref()) {
                        let key = match e {
                            super::metadata::MetadataError::UnsignedAggregate => "metadata_signing_cert",
                            super::metadata::MetadataError::Refused(_) => "idp_metadata_file",
                        };
                        problems.push(problem(key, format!("{}: {e}", f.display())));
                    }
                }
                Err(e) => problems.push(problem("idp_metadata_file", format!("cannot read {}: {e}", f.display()))),
            }
            MetadataSource::File(f)
        }
        (None, Some(u)) => {
            crate::upstream::registry::check_url("idp_metadata_url", u, problems, problem);
            MetadataSource::Url(u.to_owned())
        }
        _ => {
            problems.push(problem(
                "idp_metadata_file",
                "give exactly one of `idp_metadata_file` and `idp_metadata_url`".into(),
            ));
            return None;
        }
    };
    let allow_idp_initiated = keys.allow_idp_initiated.unwrap_or(false);
    if allow_idp_initiated && keys.on_new_identity == NewIdentityPolicy::LinkByEmail {
        problems.push(problem(
            "allow_idp_initiated",
            "cannot be combined with on_new_identity = \"link_by_email\": an unsolicited response is bound to no browser, so it must never lead to linking an identity to an account by email".into(),
        ));
    }
    let mut bound = |key: &str, value: Option<u64>, default: u32, hi: u32| -> u32 {
        match value {
            None => default,
            Some(v) if (1..=u64::from(hi)).contains(&v) => u32::try_from(v).unwrap_or(default),
            Some(v) => {
                problems.push(problem(key, format!("must be between 1 and {hi}, not {v}")));
                default
            }
        }
    };
    let signed_requests_per_sec =
        bound("signed_requests_per_sec", keys.signed_requests_per_sec, DEFAULT_SIGNED_REQUESTS_PER_SEC, 1000);
    let signed_requests_burst =
        bound("signed_requests_burst", keys.signed_requests_burst, DEFAULT_SIGNED_REQUESTS_BURST, 10_000);
    let claims = keys.claims.cloned().unwrap_or_default();
    let defaults = ClaimMap::default();
    if claims.subject != defaults.subject {
        problems.push(problem("claims.subject", "SAML providers take the subject from `subject_attribute`".into()));
    }
    if claims.email_verified != defaults.email_verified {
        problems
            .push(problem("claims.email_verified", "SAML has no verified-email attribute; use `trust_email`".into()));
    }
    if keys.entity_id.is_some_and(|e| e.trim().is_empty()) {
        problems.push(problem("entity_id", "must not be empty".into()));
    }
    if problems.len() > start {
        return None;
    }
    Some(SamlSettings {
        issuer,
        metadata,
        metadata_signing_certs,
        entity_id: keys.entity_id.map(str::to_owned),
        subject_attribute: keys.subject_attribute.filter(|a| !a.is_empty()).map(str::to_owned),
        want_assertions_signed: keys.want_assertions_signed.unwrap_or(true),
        allow_idp_initiated,
        sign_requests: keys.sign_requests,
        signed_requests_per_sec,
        signed_requests_burst,
        allow_cbc_encryption: keys.allow_cbc_encryption.unwrap_or(false),
        metadata_refresh_secs: keys.metadata_refresh_secs.unwrap_or(6 * 3600),
        clock_skew_secs: i64::try_from(keys.clock_skew_secs.unwrap_or(60)).unwrap_or(60),
        email_attribute: (claims.email != defaults.email).then(|| claims.email.clone()),
        name_attribute: (claims.name != defaults.name).then(|| claims.name.clone()),
        keep: claims.keep,
        legacy_sha1: false,
    })
}
