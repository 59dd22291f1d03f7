//! In-memory `SessionStore` for a single process (the default); expiry follows the `Clock`, and
//! the bytes it holds are capped so that anonymous traffic cannot exhaust the process: past the
//! cap (after a sweep of expired values) a write fails like an unreachable store (503). What
//! anyone can make without signing in (sign-ins under way, pushed requests, link proofs, replay
//! marks, rate counters) may fill at most half of the cap, so a flood of them never keeps a
//! session or a code from being stored.

use super::{SessionStore, StoreError};
use crate::clock::{SharedClock, UnixMillis};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Expired entries are swept after this many writes.
const SWEEP_EVERY: u64 = 256;

/// The kinds of record anyone can make without a session: they share half of the cap.
const PENDING: [&str; 6] = ["tx:", "login:", "par:", "proof:", "samlseen:", "rl:"];

/// Whether `key` is a record anyone can make without signing in.
fn is_pending(key: &str) -> bool {
    PENDING.iter().any(|p| key.starts_with(p))
}

/// A value and the instant (Unix ms) from which it no longer exists.
struct Entry {
    /// Shared: a read hands out a reference count ([`SessionStore::get_shared`]).
    value: axum::body::Bytes,
    expires_at: UnixMillis,
}

/// The keys indexed for one account. Like the Redis set, the index expires as a whole, at the
/// latest expiry any `index_add` asked for.
struct Index {
    keys: HashSet<String>,
    expires_at: UnixMillis,
}

#[derive(Default)]
struct Inner {
    /// Caller key -> value. foldhash rather than SipHash: every key stored is braid's own (a
    /// random id, or a SHA-256 digest of one a client sent), so no client can choose keys that
    /// collide under the per-process seed.
    values: crate::FastMap<String, Entry>,
    /// Account -> its indexed keys.
    index: HashMap<String, Index>,
    /// Writes since the last sweep.
    writes: u64,
    /// Bytes of keys and values held.
    bytes: usize,
    /// Of those, the bytes of pending records (see [`PENDING`]).
    pending: usize,
}

impl Inner {
    /// The live entry under `key`, if any.
    fn live(&self, key: &str, now: UnixMillis) -> Option<&Entry> {
        self.values.get(key).filter(|e| e.expires_at > now)
    }

    /// Count a write and sweep expired entries every `SWEEP_EVERY` writes.
    fn note_write(&mut self, now: UnixMillis) {
        self.writes += 1;
        if self.writes >= SWEEP_EVERY {
            self.writes = 0;
            self.sweep(now);
        }
    }

    /// Drop every expired value and index entry, and empty indexes.
    fn sweep(&mut self, now: UnixMillis) {
        let (mut freed, mut freed_pending) = (0, 0);
        self.values.retain(|k, e| {
            let keep = e.expires_at > now;
            if !keep {
                freed += k.len() + e.value.len();
                if is_pending(k) {
                    freed_pending += k.len() + e.value.len();
                }
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
        self.pending = self.pending.saturating_sub(freed_pending);
        self.index.retain(|_, idx| idx.expires_at > now);
    }

    /// Store a value if the cap allows it (sweeping expired values first when it would not); a
    /// pending record only within half of the cap.
    fn insert(&mut self, key: &str, entry: Entry, cap: usize, now: UnixMillis) -> Result<(), StoreError> {
        let size = key.len() + entry.value.len();
        let pending = is_pending(key);
        let fits = |inner: &Self| {
            let replaced = inner.values.get(key).map_or(0, |e| key.len() + e.value.len());
            inner.bytes - replaced + size <= cap && (!pending || inner.pending - replaced + size <= cap / 2)
        };
        if !fits(self) {
            self.sweep(now);
            if !fits(self) {
                crate::metrics::store_error("sessions");
                return Err(StoreError::Unavailable("the memory session store is full".into()));
            }
        }
        if let Some(old) = self.values.insert(key.to_owned(), entry) {
            self.bytes -= key.len() + old.value.len();
            if pending {
                self.pending -= key.len() + old.value.len();
            }
        }
        self.bytes += size;
        if pending {
            self.pending += size;
        }
        Ok(())
    }

    /// Remove a value.
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.values.remove(key)?;
        self.bytes = self.bytes.saturating_sub(key.len() + e.value.len());
        if is_pending(key) {
            self.pending = self.pending.saturating_sub(key.len() + e.value.len());
        }
        Some(e)
    }
}

/// The default cap of the memory store: 64 MiB of keys and values.
pub const DEFAULT_MEMORY_CAP: usize = 64 * 1024 * 1024;

/// A `SessionStore` held in this process's memory. Values vanish when the process exits and are
/// not shared between replicas; use `RedisSessionStore` for that.
pub struct MemorySessionStore {
    clock: SharedClock,
    inner: Mutex<Inner>,
    cap: usize,
}

impl MemorySessionStore {
    /// An empty store whose expiry follows `clock`, with the default cap.
    pub fn new(clock: SharedClock) -> Self {
        Self::with_cap(clock, DEFAULT_MEMORY_CAP)
    }

    /// An empty store holding at most `cap` bytes of keys and values.
    pub fn with_cap(clock: SharedClock, cap: usize) -> Self {
        Self { clock, inner: Mutex::new(Inner::default()), cap }
    }

    /// Lock the state. A poisoned lock still guards consistent data (no operation panics
    /// half-way through an update), so it is recovered rather than propagated.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live value of `key`: the stored bytes themselves (shared, never changed in place).
    fn read_shared(&self, key: &str, now: UnixMillis) -> Option<axum::body::Bytes> {
        self.lock().live(key, now).map(|e| e.value.clone())
    }

    /// The current time and the expiry instant for `ttl` from now (at least 1 ms ahead).
    fn now_and_expiry(&self, ttl: Duration) -> (UnixMillis, UnixMillis) {
        let now = self.clock.now_ms();
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        (now, now.saturating_add(ms))
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let (now, expires_at) = self.now_and_expiry(ttl);
        let mut inner = self.lock();
        inner.insert(key, Entry { value: axum::body::Bytes::copy_from_slice(value), expires_at }, self.cap, now)?;
        inner.note_write(now);
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let (now, expires_at) = self.now_and_expiry(ttl);
        let mut inner = self.lock();
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.insert(key, Entry { value: axum::body::Bytes::copy_from_slice(value), expires_at }, self.cap, now)?;
        inner.note_write(now);
        Ok(true)
    }

    async fn replace(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let (now, expires_at) = self.now_and_expiry(ttl);
        let mut inner = self.lock();
        if inner.live(key, now).is_none() {
            return Ok(false);
        }
        inner.insert(key, Entry { value: axum::body::Bytes::copy_from_slice(value), expires_at }, self.cap, now)?;
        inner.note_write(now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock();
        Ok(inner.live(key, now).map(|e| e.value.to_vec()))
    }

    async fn get_shared(&self, key: &str) -> Result<Option<axum::body::Bytes>, StoreError> {
        Ok(self.read_shared(key, self.clock.now_ms()))
    }

    fn get_shared_now(&self, key: &str, now_ms: i64) -> Option<Result<Option<axum::body::Bytes>, StoreError>> {
        Some(Ok(self.read_shared(key, now_ms)))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        Ok(inner.remove(key).filter(|e| e.expires_at > now).map(|e| e.value.into()))
    }

    async fn take_and_mark(
        &self,
        key: &str,
        marker_key: &str,
        marker: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        super::same_name(key, marker_key)?;
        let (now, expires_at) = self.now_and_expiry(ttl);
        let mut inner = self.lock();
        let taken = inner.remove(key).filter(|e| e.expires_at > now).map(|e| e.value);
        if taken.is_some() {
            // The marker is smaller than what was taken (a code): it always fits.
            inner.insert(
                marker_key,
                Entry { value: axum::body::Bytes::copy_from_slice(marker), expires_at },
                usize::MAX,
                now,
            )?;
            inner.note_write(now);
        }
        Ok(taken.map(Into::into))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn index_add(&self, account: &str, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let (now, expires_at) = self.now_and_expiry(ttl);
        let mut inner = self.lock();
        let idx = inner.index.entry(account.to_owned()).or_insert_with(|| Index { keys: HashSet::new(), expires_at });
        if idx.expires_at <= now {
            idx.keys.clear();
        }
        idx.keys.insert(key.to_owned());
        idx.expires_at = idx.expires_at.max(expires_at);
        inner.note_write(now);
        Ok(())
    }

    async fn index_remove(&self, account: &str, key: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(idx) = inner.index.get_mut(account) {
            idx.keys.remove(key);
            if idx.keys.is_empty() {
                inner.index.remove(account);
            }
        }
        Ok(())
    }

    async fn throttle(
        &self,
        key: &str,
        now: UnixMillis,
        interval_ms: i64,
        burst: u32,
        spend: bool,
    ) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        let tat = inner.live(key, now).and_then(|e| e.value.as_ref().try_into().ok()).map(i64::from_be_bytes);
        let (wait, new_tat) = super::gcra(tat, now, interval_ms, burst);
        if wait == 0 && spend {
            let entry = Entry {
                value: axum::body::Bytes::copy_from_slice(&new_tat.to_be_bytes()),
                expires_at: new_tat.max(now + 1),
            };
            inner.insert(key, entry, self.cap, now)?;
            inner.note_write(now);
        }
        Ok(wait)
    }

    async fn index_members(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock();
        Ok(inner
            .index
            .get(account)
            .filter(|i| i.expires_at > now)
            .map(|i| i.keys.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn end_all(&self, account: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let Some(mut idx) = inner.index.remove(account).filter(|i| i.expires_at > now) else {
            return Ok(0);
        };
        let mut deleted = 0;
        let mut kept = HashSet::new();
        for key in std::mem::take(&mut idx.keys) {
            if Some(key.as_str()) == keep {
                kept.insert(key);
            } else if inner.remove(&key).is_some_and(|e| e.expires_at > now) {
                deleted += 1;
            }
        }
        if !kept.is_empty() {
            idx.keys = kept;
            inner.index.insert(account.to_owned(), idx);
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TestClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn sweeping_drops_expired_values_and_index_entries() {
        let clock = Arc::new(TestClock::at(1_000_000));
        let store = MemorySessionStore::new(clock.clone());
        let ttl = Duration::from_secs(1);
        store.put("old", b"v", ttl).await.unwrap();
        store.index_add("acct", "old", ttl).await.unwrap();
        clock.advance(Duration::from_secs(2));
        for i in 0..SWEEP_EVERY {
            store.put(&format!("k{i}"), b"v", ttl).await.unwrap();
        }
        let inner = store.lock();
        assert!(!inner.values.contains_key("old"));
        assert!(!inner.index.contains_key("acct"));
        assert_eq!(inner.bytes, inner.values.iter().map(|(k, e)| k.len() + e.value.len()).sum::<usize>());
    }

    #[tokio::test]
    async fn records_anyone_can_make_fill_at_most_half_the_cap_and_sessions_still_fit() {
        let clock = Arc::new(TestClock::at(1_000_000));
        let store = MemorySessionStore::with_cap(clock.clone(), 10_000);
        let ttl = Duration::from_secs(600);
        let mut made = 0;
        for i in 0..1000 {
            let kind = PENDING[i % PENDING.len()];
            if store.put(&format!("{kind}{i:04}"), &[0u8; 90], ttl).await.is_err() {
                break;
            }
            made += 1;
        }
        assert!((45..=55).contains(&made), "a flood stops at half the cap: {made} records");
        assert!(store.put("tx:more", &[0u8; 90], ttl).await.is_err(), "and stays stopped");
        // Sessions and codes still fit, in the other half.
        for i in 0..35 {
            store.put(&format!("sess:{i:04}"), &[1u8; 100], ttl).await.unwrap();
            store.put(&format!("code:{i:04}"), &[1u8; 10], ttl).await.unwrap();
        }
        // Taking a pending record frees its room in both counts.
        let taken = store.take("tx:0000").await.unwrap();
        assert!(taken.is_some());
        store.put("tx:again", &[0u8; 90], ttl).await.unwrap();
        let inner = store.lock();
        let pending: usize =
            inner.values.iter().filter(|(k, _)| is_pending(k)).map(|(k, e)| k.len() + e.value.len()).sum();
        assert_eq!(inner.pending, pending);
        assert!(inner.pending <= 5_000 && inner.bytes <= 10_000);
    }

    #[tokio::test]
    async fn the_store_refuses_writes_past_its_cap_and_frees_room_as_values_expire() {
        let clock = Arc::new(TestClock::at(1_000_000));
        let store = MemorySessionStore::with_cap(clock.clone(), 1000);
        for i in 0..9 {
            store.put(&format!("k{i}"), &[0u8; 98], Duration::from_secs(10)).await.unwrap();
        }
        let full = store.put("one-more", &[0u8; 200], Duration::from_secs(10)).await;
        assert!(matches!(full, Err(StoreError::Unavailable(_))), "{full:?}");
        assert!(store.get("one-more").await.unwrap().is_none(), "nothing half-written");
        assert!(store.get("k0").await.unwrap().is_some(), "what was there stays");
        // Replacing a value counts only the difference.
        store.put("k0", &[1u8; 98], Duration::from_secs(10)).await.unwrap();
        clock.advance(Duration::from_secs(11));
        store.put("one-more", &[0u8; 200], Duration::from_secs(10)).await.unwrap();
        store.take("one-more").await.unwrap();
        assert_eq!(store.lock().bytes, 0, "expired values swept, taken ones freed");
    }
}
