//! Signed assertions (`X-Braid-Assertion`) reused while they are young: a proxy asks about every
//! request, and signing one per request (RS256: about 250 µs) would dominate forward-auth. An
//! assertion is reused for the same claims (audience, account, identity provider, email) and
//! signing key while it has at least half its lifetime left, so an application never receives
//! one with less than 30 s to live; any change of the claims or the key signs a new one.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many assertions are kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Assertions by what they say (kept as `V`: braid keeps the ready header value, whose copy
/// costs a reference count).
#[derive(Debug)]
pub struct AssertionCache<V = axum::http::HeaderValue> {
    inner: Mutex<HashMap<String, (V, i64)>>,
}

impl<V> Default for AssertionCache<V> {
    fn default() -> Self {
        Self { inner: Mutex::default() }
    }
}

impl<V: Clone> AssertionCache<V> {
    /// The assertion stored under `key` if it lives at least `min_left` more seconds at `now`,
    /// else the one `sign` makes (stored for next time).
    pub fn get_or_sign<E>(
        &self,
        key: String,
        now: i64,
        min_left: i64,
        sign: impl FnOnce() -> Result<(V, i64), E>,
    ) -> Result<V, E> {
        if let Some((token, exp)) = self.lock().get(&key) {
            if exp - now >= min_left {
                return Ok(token.clone());
            }
        }
        // Signed outside the lock: other requests are not held up by the signature.
        let (token, exp) = sign()?;
        let mut inner = self.lock();
        if inner.len() >= MAX_ENTRIES {
            inner.clear();
        }
        inner.insert(key, (token.clone(), exp));
        Ok(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (V, i64)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_is_reused_while_it_has_half_its_life_and_signed_again_after() {
        let cache = AssertionCache::<String>::default();
        let mut signed = 0;
        let mut sign = |now: i64| {
            signed += 1;
            Ok::<_, ()>((format!("t{signed}"), now + 60))
        };
        assert_eq!(cache.get_or_sign("k".into(), 1000, 30, || sign(1000)), Ok("t1".into()));
        assert_eq!(cache.get_or_sign("k".into(), 1030, 30, || sign(1030)), Ok("t1".into()), "30 s left: reused");
        assert_eq!(cache.get_or_sign("k".into(), 1031, 30, || sign(1031)), Ok("t2".into()), "less: signed again");
        assert_eq!(cache.get_or_sign("other".into(), 1031, 30, || sign(1031)), Ok("t3".into()), "other claims");
    }
}
