//! braid: a federation gateway. Upstream identities map to one canonical account; braid issues
//! its own OpenID Connect tokens whose `sub` is that account.

pub mod accounts;
pub mod admin;
pub mod clock;
pub mod config;
pub mod db;
pub mod edge;
pub mod error;
pub mod group_commit;
pub mod health;
pub mod ids;
pub mod issuer;
pub mod limits;
pub mod linking;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod proxy;
pub mod records;
pub mod routes;
pub mod serve;
pub mod sessions;
pub mod signin;
pub mod startup;
pub mod state;
pub mod trust;
pub mod upstream;
pub mod web;

pub use startup::Application;

/// A hash map for the hot paths' caches whose keys braid chooses (account and identity ids,
/// session ids found in the store): foldhash, seeded per process, costs a fraction of std's
/// SipHash on short keys. Maps keyed by what a client sends (hosts, addresses) keep SipHash.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
