//! Short-lived shared state: the `SessionStore` trait (bytes under keys with a TTL, atomic take,
//! a per-account index) and its implementations, in memory and in Redis (one server, Sentinel or
//! Cluster).

mod memory;
mod redis_conn;
mod redis_store;
mod redis_url;

pub use memory::MemorySessionStore;
pub use redis_store::RedisSessionStore;
pub use redis_url::{RedisTarget, check_key_prefix, parse_sessions_url, redact};

use async_trait::async_trait;

use crate::clock::UnixMillis;
use std::time::Duration;

/// A failure of the session store. braid fails closed on every one of them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// A value in the store could not be decoded.
    #[error("session store value is corrupt: {0}")]
    Corrupt(String),
    /// The store answers but is set up so that braid cannot rely on it (a Redis that may evict
    /// keys); braid refuses to start on it.
    #[error("{0}")]
    Unsuitable(String),
    /// The caller broke a rule of the trait (two keys that cannot be kept together).
    #[error("session store misuse: {0}")]
    Misuse(String),
}

/// The name of a caller key: what follows the first `:` (`code:H` names `H`), or the whole key.
pub(crate) fn key_name(key: &str) -> &str {
    key.split_once(':').map_or(key, |(_, name)| name)
}

/// Refuse a `take_and_mark` of two keys that name different things.
pub(crate) fn same_name(key: &str, marker_key: &str) -> Result<(), StoreError> {
    if key_name(key) == key_name(marker_key) {
        Ok(())
    } else {
        Err(StoreError::Misuse(format!(
            "`{key}` and `{marker_key}` name different things; a value and its marker must share a name"
        )))
    }
}

/// Short-lived key/value state shared by every braid replica.
///
/// Keys are chosen by the caller (`"sess:…"`, `"code:…"`); an implementation may add its own
/// prefix. Every value has a TTL; expired values are never returned.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Store `value` under `key` for `ttl`, replacing any earlier value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// Store `value` only if `key` holds nothing live; `true` when this call stored it.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;
    /// Store `value` only if `key` holds something live (replacing it, with a new `ttl`); `true`
    /// when this call stored it. A value deleted meanwhile (a revocation) is never brought back.
    async fn replace(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;
    /// Read a live value.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Read a live value as shared bytes. A store that keeps its values in this process hands
    /// out the stored bytes themselves, so that two reads of a value not written in between
    /// return the same bytes; others return a copy. A reader that keeps the bytes of an earlier
    /// read may take a later read at the same address and length for the same value (the bytes
    /// it keeps cannot be freed and reused meanwhile); so a store must never hand out bytes it
    /// changes in place.
    async fn get_shared(&self, key: &str) -> Result<Option<axum::body::Bytes>, StoreError> {
        Ok(self.get(key).await?.map(axum::body::Bytes::from))
    }
    /// [`Self::get_shared`] answered at once, by a store that keeps its values in this process
    /// and so need not wait (nor box a future) to read one; `None` from a store that must be
    /// asked through `get_shared`. `now_ms` is the caller's reading of braid's clock (the one
    /// the store was made with), which such a store judges expiry by.
    fn get_shared_now(&self, _key: &str, _now_ms: i64) -> Option<Result<Option<axum::body::Bytes>, StoreError>> {
        None
    }
    /// Read and delete in one atomic step: of any number of concurrent takers, one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Take `key` once (as `take`) and, in the same atomic step, when it held a value, store
    /// `marker` under `marker_key` for `ttl`: no other caller can see the key gone without the
    /// marker there (single-use codes whose reuse must be detected). Both keys must name the
    /// same thing, `kind:name` with one `name` (`code:H` and `codeused:H`), so that a Redis
    /// Cluster keeps them in one slot; other pairs are refused with `StoreError::Misuse` by
    /// every implementation.
    async fn take_and_mark(
        &self,
        key: &str,
        marker_key: &str,
        marker: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Delete a key (no error if absent).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Record `key` in the index of `account`, kept at least `ttl`.
    async fn index_add(&self, account: &str, key: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Remove `key` from the index of `account`.
    async fn index_remove(&self, account: &str, key: &str) -> Result<(), StoreError>;
    /// The keys in the index of `account` (some may have expired since).
    async fn index_members(&self, account: &str) -> Result<Vec<String>, StoreError>;
    /// Delete every key indexed for `account` except `keep`, and their index entries; returns how
    /// many were deleted.
    async fn end_all(&self, account: &str, keep: Option<&str>) -> Result<usize, StoreError>;
    /// Check that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// A rate budget under `key` (GCRA: one unit comes back every `interval_ms`, at most `burst`
    /// are held), at `now` (ms). With `spend`, take one unit when one is there; without, only
    /// look. Returns 0 when a unit is (or was) there, else the milliseconds until one is.
    async fn throttle(
        &self,
        key: &str,
        now: UnixMillis,
        interval_ms: i64,
        burst: u32,
        spend: bool,
    ) -> Result<i64, StoreError>;
}

/// The GCRA step shared by the stores: from the stored theoretical arrival time `tat` (ms; `None`
/// for a fresh budget), the wait in ms (0: allowed) and the new `tat` to store when spending.
pub fn gcra(tat: Option<UnixMillis>, now: UnixMillis, interval_ms: i64, burst: u32) -> (i64, UnixMillis) {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval_ms);
    let allow_at = new_tat.saturating_sub(interval_ms.saturating_mul(i64::from(burst)));
    ((allow_at - now).max(0), new_tat)
}
