//! Upstream identity providers: the provider files in `providers/`, the registry built from
//! them, and one module per protocol. Every protocol hands on one type, `ExternalIdentity`.

pub mod dev;
pub mod jose;
mod registry;

pub use registry::{NewIdentityPolicy, Provider, ProviderKind, Providers, load_dir};
