//! braid: a federation gateway. Upstream identities map to one canonical account; braid issues
//! its own OpenID Connect tokens whose `sub` is that account.

pub mod accounts;
pub mod clock;
pub mod db;
pub mod ids;
pub mod sessions;
