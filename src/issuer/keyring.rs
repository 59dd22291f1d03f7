//! The live signing keys: the key directory read again while braid runs, so that a key added by
//! `braid keys rotate` (on any replica, with a shared `keys/`) is published in the JWKS at once
//! and signs only after `[keys] activation_delay_secs`, when every replica and client cache
//! knows it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::keys::{KeyError, KeySet};
use super::shape::PairwiseSecret;
use crate::clock::SharedClock;
use crate::config::SigningAlg;
use crate::state::DecodingKeys;

/// One consistent view of the keys.
#[derive(Debug)]
pub struct Keys {
    /// Signing keys and the current one.
    pub set: KeySet,
    /// Verification keys of braid's own tokens, by `kid`.
    pub decoding: DecodingKeys,
}

/// The keys in force, swapped atomically when the directory changes.
pub struct KeyRing {
    dir: PathBuf,
    alg: SigningAlg,
    delay_ms: i64,
    clock: SharedClock,
    current: RwLock<Arc<Keys>>,
    pairwise: PairwiseSecret,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("dir", &self.dir).field("alg", &self.alg).finish()
    }
}

impl KeyRing {
    /// Load (generating the first key of each algorithm, and the pairwise secret, if absent).
    pub fn load(
        dir: PathBuf,
        alg: SigningAlg,
        activation_delay: Duration,
        clock: SharedClock,
    ) -> Result<Self, KeyError> {
        let delay_ms = i64::try_from(activation_delay.as_millis()).unwrap_or(i64::MAX);
        let set = KeySet::load_or_generate_at(&dir, alg, clock.now_ms(), delay_ms)?;
        let keys = Arc::new(Keys { decoding: set.decoding_keys(), set });
        let pairwise = PairwiseSecret::load_or_create(&dir)?;
        Ok(Self { dir, alg, delay_ms, clock, current: RwLock::new(keys), pairwise })
    }

    /// The secret of pairwise subjects (read once: it never changes).
    pub fn pairwise(&self) -> &PairwiseSecret {
        &self.pairwise
    }

    /// The keys in force now.
    pub fn snapshot(&self) -> Arc<Keys> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Read the directory again (new keys are published; the current key follows the delay).
    pub fn reload(&self) -> Result<(), KeyError> {
        let set = KeySet::load_or_generate_at(&self.dir, self.alg, self.clock.now_ms(), self.delay_ms)?;
        let next = Arc::new(Keys { decoding: set.decoding_keys(), set });
        let before = self.snapshot();
        let kids = |k: &Keys| {
            k.set
                .algorithms()
                .into_iter()
                .filter_map(|a| k.set.current_for(a).map(|c| c.kid.clone()))
                .collect::<Vec<_>>()
        };
        if kids(&before) != kids(&next) || before.set.all().len() != next.set.all().len() {
            tracing::info!(kids = ?kids(&next), keys = next.set.all().len(), "signing keys changed");
        }
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        Ok(())
    }

    /// Read the directory again every `every` until the ring is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ring) = weak.upgrade() else { break };
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || ring.reload()).await {
                    tracing::error!(error = %e, "signing keys could not be read again; the previous ones stay");
                }
            }
        });
    }
}
