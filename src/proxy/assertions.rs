//! Signed assertions (`X-Braid-Assertion`) reused while they are young: a proxy asks about every
//! request, and signing one per request (RS256: about 250 µs) would dominate forward-auth. An
//! assertion, with the identity headers beside it, is reused for the same claims (audience,
//! account, identity provider, email, user name) and signing key while it has at least half its
//! lifetime left, so an application never receives one with less than 30 s to live; any change
//! of the claims or the key signs a new one.

use std::sync::Mutex;

/// At most this many accounts' assertions are kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// At most this many assertions are kept per account (its routes' audiences, a key rotation);
/// past it the account's start over.
const MAX_PER_ACCOUNT: usize = 64;

/// What an assertion (and the identity headers beside it) says: the cache key. Looked up as
/// borrowed text, so a hit allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The signing key's `kid`.
    pub kid: &'a str,
    /// `aud`.
    pub audience: &'a str,
    /// `sub`.
    pub account: &'a str,
    /// `idp`.
    pub idp: &'a str,
    /// `email` (when verified).
    pub email: Option<&'a str>,
    /// The preferred user name header.
    pub preferred_username: Option<&'a str>,
}

impl Facts<'_> {
    fn fields(&self) -> [Option<&str>; 6] {
        [Some(self.kid), Some(self.audience), Some(self.account), Some(self.idp), self.email, self.preferred_username]
    }
}

#[derive(Debug)]
struct Kept<V> {
    facts: [Option<Box<str>>; 6],
    value: V,
    exp: i64,
}

/// Assertions by what they say (kept as `V`: braid keeps the ready identity headers, whose
/// copy costs a reference count), found by account (one short key to hash) and then compared
/// on every fact.
#[derive(Debug)]
pub struct AssertionCache<V = super::forward::IdentityHeaders> {
    inner: Mutex<crate::FastMap<Box<str>, Vec<Kept<V>>>>,
}

impl<V> Default for AssertionCache<V> {
    fn default() -> Self {
        Self { inner: Mutex::default() }
    }
}

impl<V: Clone> AssertionCache<V> {
    /// The assertion stored for `facts` if it lives at least `min_left` more seconds at `now`,
    /// else the one `sign` makes (stored for next time).
    pub fn get_or_sign<E>(
        &self,
        facts: &Facts<'_>,
        now: i64,
        min_left: i64,
        sign: impl FnOnce() -> Result<(V, i64), E>,
    ) -> Result<V, E> {
        let fields = facts.fields();
        let same = |k: &Kept<V>| k.facts.iter().map(Option::as_deref).eq(fields);
        if let Some(kept) = self.lock().get(facts.account).and_then(|bucket| bucket.iter().find(|k| same(k))) {
            if kept.exp - now >= min_left {
                return Ok(kept.value.clone());
            }
        }
        // Signed outside the lock: other requests are not held up by the signature.
        let (value, exp) = sign()?;
        let mut inner = self.lock();
        if inner.len() >= MAX_ENTRIES {
            inner.clear();
        }
        let bucket = inner.entry(facts.account.into()).or_default();
        bucket.retain(|k| !same(k));
        if bucket.len() >= MAX_PER_ACCOUNT {
            bucket.clear();
        }
        bucket.push(Kept { facts: fields.map(|f| f.map(Box::from)), value: value.clone(), exp });
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, crate::FastMap<Box<str>, Vec<Kept<V>>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_is_reused_while_it_has_half_its_life_and_signed_again_after() {
        let cache = AssertionCache::<String>::default();
        let signed = std::cell::Cell::new(0);
        let sign = |now: i64| {
            signed.set(signed.get() + 1);
            Ok::<_, ()>((format!("t{}", signed.get()), now + 60))
        };
        let k = Facts { kid: "k1", audience: "a", account: "acc", idp: "i", email: None, preferred_username: None };
        assert_eq!(cache.get_or_sign(&k, 1000, 30, || sign(1000)), Ok("t1".into()));
        assert_eq!(cache.get_or_sign(&k, 1030, 30, || sign(1030)), Ok("t1".into()), "30 s left: reused");
        assert_eq!(cache.get_or_sign(&k, 1031, 30, || sign(1031)), Ok("t2".into()), "less: signed again");
        assert_eq!(cache.get_or_sign(&k, 1032, 30, || sign(1032)), Ok("t2".into()), "the new one is reused");
        // Each fact is part of the key; a field moved to another place is another key.
        for other in [
            Facts { kid: "k2", ..k },
            Facts { audience: "b", ..k },
            Facts { account: "other", ..k },
            Facts { idp: "j", ..k },
            Facts { email: Some("e@x"), ..k },
            Facts { preferred_username: Some("e@x"), ..k },
            Facts { account: "i", idp: "acc", ..k },
        ] {
            let before = signed.get();
            assert_eq!(cache.get_or_sign(&other, 1032, 30, || sign(1032)), Ok(format!("t{}", before + 1)), "{other:?}");
        }
        assert_eq!(cache.get_or_sign(&k, 1032, 30, || sign(1032)), Ok("t2".into()), "the first is still kept");
    }
}
