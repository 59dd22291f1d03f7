//! The definition of an upstream provider as written (a provider file's keys, or the admin
//! API's JSON), with its OpenAPI schema: what each key means and takes.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

/// What happens when an identity braid has never seen signs in (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
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

impl ProviderKind {
    /// The name a provider file gives the kind (`oidc`, `oauth2`, `saml`, `dev`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
            Self::Saml => "saml",
            Self::Dev => "dev",
        }
    }
}

/// A provider definition as written: the keys of a provider file (`providers/<id>.toml`), or
/// the JSON body of the admin API. Which keys apply depends on `kind`; a key of another kind is
/// refused. Secrets may be `${ENV}` references or `client_secret_file`, and are never shown.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderDefinition {
    /// The provider's id (default: the file name); lower-case letters, digits, `-` and `_`.
    pub(crate) id: Option<String>,
    /// The protocol.
    pub(crate) kind: ProviderKind,
    /// The name on the sign-in page (default: the id).
    pub(crate) display_name: Option<String>,
    /// Whether the provider is in force (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub(crate) enabled: bool,
    /// What a first sign-in with an identity braid has never seen does.
    #[serde(default)]
    pub(crate) on_new_identity: NewIdentityPolicy,
    /// Whether the provider's `email_verified` is believed (default false).
    #[serde(default)]
    pub(crate) trust_email: bool,
    /// Link a new identity to the account with its verified email without proof (default false).
    #[serde(default)]
    pub(crate) auto_link: bool,
    /// Whether its identities may sign in, or only be linked (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub(crate) can_sign_in: bool,
    /// Email domains routed to it: an email typed on the chooser, or a `login_hint`.
    #[serde(default)]
    pub(crate) domains: Vec<String>,
    /// OIDC: the issuer, compared byte for byte (`{tenantid}` allowed for Entra ID). SAML: the
    /// IdP's entityID. OAuth 2.0: the issuer its identities carry.
    pub(crate) issuer: Option<String>,
    /// OIDC: where the discovery document is (default: under the issuer).
    pub(crate) discovery_url: Option<String>,
    /// OIDC, OAuth 2.0: braid's client id there.
    pub(crate) client_id: Option<String>,
    /// OIDC, OAuth 2.0: braid's client secret there (or `${ENV}`); write-only.
    #[schema(value_type = Option<String>, write_only)]
    pub(crate) client_secret: Option<SecretString>,
    /// OIDC, OAuth 2.0: a file holding the secret (relative: beside the provider files).
    #[schema(value_type = Option<String>)]
    pub(crate) client_secret_file: Option<std::path::PathBuf>,
    /// OIDC, OAuth 2.0: how braid authenticates at the token endpoint.
    pub(crate) token_auth: Option<TokenAuth>,
    /// OIDC, OAuth 2.0: the scopes asked for (OIDC: must hold `openid`).
    pub(crate) scopes: Option<Vec<String>>,
    /// OIDC: fetch userinfo and merge it into the identity's claims.
    pub(crate) userinfo: Option<bool>,
    /// OIDC: a `prompt` sent upstream on every sign-in.
    pub(crate) prompt: Option<String>,
    /// OIDC: a `domain_hint` sent upstream (Entra ID).
    pub(crate) domain_hint: Option<String>,
    /// OIDC, OAuth 2.0: other authorization parameters (never the protocol's own).
    pub(crate) extra_params: Option<BTreeMap<String, String>>,
    /// OIDC: clock skew allowed on ID token times, in seconds (also `clock_skew`).
    #[serde(alias = "clock_skew")]
    pub(crate) clock_skew_secs: Option<u64>,
    /// OIDC: which claims make the identity.
    pub(crate) claims: Option<ClaimMap>,
    /// SAML: the IdP's metadata, from a file (relative: beside the provider files).
    #[schema(value_type = Option<String>)]
    pub(crate) idp_metadata_file: Option<std::path::PathBuf>,
    /// SAML: the IdP's metadata, fetched from this URL and refreshed.
    pub(crate) idp_metadata_url: Option<String>,
    /// SAML: braid's entity ID at this IdP (default `{public_url}/saml/{id}`).
    pub(crate) entity_id: Option<String>,
    /// SAML: the attribute holding the subject (default: the NameID).
    pub(crate) subject_attribute: Option<String>,
    /// SAML: the assertion itself must be signed (default true).
    pub(crate) want_assertions_signed: Option<bool>,
    /// SAML: accept unsolicited (IdP-initiated) responses.
    pub(crate) allow_idp_initiated: Option<bool>,
    /// SAML: sign AuthnRequests (default: the metadata's `WantAuthnRequestsSigned`).
    pub(crate) sign_requests: Option<bool>,
    /// SAML: signed AuthnRequests this provider may start per second after the burst (1 to 1000).
    pub(crate) signed_requests_per_sec: Option<u64>,
    /// SAML: the burst above that rate.
    pub(crate) signed_requests_burst: Option<u64>,
    /// SAML: accept CBC-mode encrypted assertions (legacy IdPs).
    pub(crate) allow_cbc_encryption: Option<bool>,
    /// SAML: a PEM file of the certificates the metadata must be signed with.
    #[schema(value_type = Option<String>)]
    pub(crate) metadata_signing_cert: Option<std::path::PathBuf>,
    /// SAML: how often fetched metadata is refreshed, in seconds.
    pub(crate) metadata_refresh_secs: Option<u64>,
    /// OAuth 2.0: a known provider's endpoints and fields (`github`, …).
    pub(crate) preset: Option<String>,
    /// OAuth 2.0: the authorization endpoint.
    pub(crate) authorize_url: Option<String>,
    /// OAuth 2.0: the token endpoint.
    pub(crate) token_url: Option<String>,
    /// OAuth 2.0: the endpoint describing the signed-in user.
    pub(crate) userinfo_url: Option<String>,
    /// OAuth 2.0: a GitHub-style list of the user's emails.
    pub(crate) emails_url: Option<String>,
    /// OAuth 2.0: the user field holding the stable subject.
    pub(crate) subject_field: Option<String>,
    /// OAuth 2.0: the user field holding the email.
    pub(crate) email_field: Option<String>,
    /// OAuth 2.0: the user field saying the email is verified.
    pub(crate) email_verified_field: Option<String>,
    /// OAuth 2.0: the user field holding the display name.
    pub(crate) name_field: Option<String>,
    /// OAuth 2.0: the provider honours `prompt=login`.
    pub(crate) can_force_login: Option<bool>,
}

/// How braid authenticates at an upstream token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// HTTP Basic (the default).
    #[default]
    ClientSecretBasic,
    /// Form fields.
    ClientSecretPost,
}

/// Which upstream claims make the identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMap {
    /// The subject (the identity key with the issuer).
    pub subject: String,
    /// Email.
    pub email: String,
    /// Whether that email is verified (`true` or `"true"` only).
    pub email_verified: String,
    /// Display name.
    pub name: String,
    /// Other claims kept on the identity.
    pub keep: Vec<String>,
}

impl Default for ClaimMap {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            keep: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
