//! The bound on signed AuthnRequests: anyone can open `GET /login/{provider}`, and each signed
//! request costs braid an RSA private-key operation, so each provider has a token bucket (per
//! braid process) that a real person never empties. Time comes from braid's `Clock`, passed in.

use std::sync::{Mutex, MutexGuard};

use crate::clock::UnixMillis;

/// Tokens are counted in thousandths, so that a refill of `per_sec` per second is a whole
/// number per millisecond.
const ONE: u64 = 1000;

/// A token bucket: `burst` tokens at most, `per_sec` added each second, one taken per request.
#[derive(Debug)]
pub struct TokenBucket {
    per_sec: u64,
    capacity: u64,
    /// (thousandths of a token left, when last filled); `None` while full and untouched.
    state: Mutex<Option<(u64, UnixMillis)>>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `per_sec` per second (both at least 1).
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self { per_sec: u64::from(per_sec.max(1)), capacity: u64::from(burst.max(1)) * ONE, state: Mutex::new(None) }
    }

    /// A poisoned lock still guards a consistent pair (nothing panics half-way): recover it.
    fn lock(&self) -> MutexGuard<'_, Option<(u64, UnixMillis)>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one token at `now`. `Err(secs)`: empty, a token is back in `secs` seconds (≥ 1).
    pub fn take(&self, now: UnixMillis) -> Result<(), u64> {
        let mut state = self.lock();
        let (left, since) = state.unwrap_or((self.capacity, now));
        // A clock that went back refills nothing (and takes nothing away).
        let elapsed = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
        let left = left.saturating_add(elapsed.saturating_mul(self.per_sec)).min(self.capacity);
        if left >= ONE {
            *state = Some((left - ONE, now.max(since)));
            return Ok(());
        }
        *state = Some((left, now.max(since)));
        let wait_ms = (ONE - left).div_ceil(self.per_sec);
        Err(wait_ms.div_ceil(1000).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_with_the_clock() {
        let b = TokenBucket::new(2, 3);
        let t = 1_000_000;
        assert!((0..3).all(|_| b.take(t).is_ok()), "the burst");
        assert_eq!(b.take(t), Err(1), "empty: one token is back within a second");
        assert_eq!(b.take(t + 499), Err(1), "half a token is not a token");
        assert_eq!(b.take(t + 500), Ok(()), "two per second: one every 500 ms");
        assert_eq!(b.take(t + 500), Err(1));
        // A long pause refills to the burst, never beyond.
        assert!((0..3).all(|_| b.take(t + 3_600_000).is_ok()));
        assert!(b.take(t + 3_600_000).is_err());
    }

    #[test]
    fn a_slow_refill_says_how_long_to_wait_and_a_clock_going_back_adds_nothing() {
        let b = TokenBucket::new(1, 1);
        let t = 5_000;
        assert_eq!(b.take(t), Ok(()));
        assert_eq!(b.take(t), Err(1));
        assert_eq!(b.take(t - 60_000), Err(1), "earlier time: nothing refilled");
        assert_eq!(b.take(t + 1000), Ok(()));
    }
}
