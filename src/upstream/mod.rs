//! Upstream identity providers: the provider files in `providers/`, the registry built from
//! them, and one module per protocol. Every protocol hands on one type, `ExternalIdentity`.

pub mod callback;
pub mod definition;
pub mod dev;
pub mod http;
pub mod jose;
pub mod logout;
pub mod oauth2;
pub mod oidc;
pub(crate) mod registry;
mod reload;
pub mod saml;

pub use registry::{
    ClaimMap, NewIdentityPolicy, OAuth2Settings, OidcSettings, Protocol, Provider, ProviderKind, Providers, TokenAuth,
    parse_definition, parse_file,
};
pub use reload::{DEV_REFUSED, ProviderRegistry, RegistryPolicy};
