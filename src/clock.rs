//! Time as a parameter: every part of braid asks a `Clock`, so tests can pin and advance it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// The source of "now" for braid.
pub trait Clock: Send + Sync + 'static {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> UnixMillis;

    /// The current time in whole seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that stands still until told to move; for tests and fixture replay.
#[derive(Debug, Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    /// A clock pinned at `start` milliseconds since the epoch.
    pub fn at(start: UnixMillis) -> Self {
        Self(AtomicI64::new(start))
    }

    /// A clock pinned at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now_ms())
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Set the clock to an absolute time.
    pub fn set(&self, at: UnixMillis) {
        self.0.store(at, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> UnixMillis {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_advances_only_when_told() {
        let c = TestClock::at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.now_secs(), 1);
        c.advance(Duration::from_millis(2_500));
        assert_eq!(c.now_ms(), 3_500);
        c.set(10);
        assert_eq!(c.now_ms(), 10);
    }
}
