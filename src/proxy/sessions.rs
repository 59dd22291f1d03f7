//! Browser sessions as the proxy paths read them on every request: the record is fetched from
//! the session store each time (a session ended anywhere is gone at the next request), but it
//! is decoded only when its stored bytes differ from the ones decoded last for that cookie.
//! The memo saves the work, never a decision: the bytes read now are compared in full, unless
//! they are the very bytes the memo holds (the memory store hands out its stored value, and the
//! memo keeps it alive, so the same address and length are the same bytes).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::AppError;
use crate::records::{BrowserSession, key};
use crate::state::AppState;

/// At most this many sessions are remembered; past it the memo starts over.
const MAX_ENTRIES: usize = 10_000;

/// Decoded sessions by the cookie's value.
#[derive(Debug, Default)]
pub struct SessionMemo {
    inner: Mutex<crate::FastMap<Arc<str>, Seen>>,
}

#[derive(Debug, Clone)]
struct Seen {
    /// The session's store key (the hash of its id).
    key: Arc<str>,
    /// The stored value that was decoded.
    bytes: axum::body::Bytes,
    session: Arc<BrowserSession>,
}

impl SessionMemo {
    fn lock(&self) -> MutexGuard<'_, crate::FastMap<Arc<str>, Seen>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The browser session `sid` as stored, with the id as a shared string. Unlike
    /// [`AppState::session_by_id`], it does not look at the session's provider: both callers
    /// pass the session to `trust::standing_reused` next, which does, and ends a session whose
    /// provider is no longer usable. `now_ms` is the caller's reading of braid's clock.
    pub async fn get(
        &self,
        state: &AppState,
        sid: &str,
        now_ms: i64,
    ) -> Result<Option<(Arc<str>, Arc<BrowserSession>)>, AppError> {
        let seen = self.lock().get_key_value(sid).map(|(id, seen)| (id.clone(), seen.clone()));
        let (id, key) = match &seen {
            Some((id, seen)) => (id.clone(), seen.key.clone()),
            None => (Arc::from(sid), Arc::from(key::session(sid))),
        };
        let store = state.records.store();
        let read = match store.get_shared_now(&key, now_ms) {
            Some(read) => read,
            None => store.get_shared(&key).await,
        };
        let Some(bytes) = read? else {
            return Ok(None);
        };
        let session = match seen {
            Some((_, seen)) if same(&seen.bytes, &bytes) => seen.session,
            _ => {
                let session: Arc<BrowserSession> = Arc::new(crate::records::decode_bytes(&bytes)?);
                let mut inner = self.lock();
                if inner.len() >= MAX_ENTRIES {
                    inner.clear();
                }
                inner.insert(id.clone(), Seen { key, bytes, session: session.clone() });
                session
            }
        };
        Ok(Some((id, session)))
    }
}

/// Whether `a` and `b` hold the same bytes: at once when they are the same shared bytes.
fn same(a: &axum::body::Bytes, b: &axum::body::Bytes) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}
