//! What one client connection of braid's proxy remembers between its requests: the host its
//! last request named (and whether braid proxies it), the `Cookie` header it sent, with what
//! braid read from it (the session id it names, and the header as the upstream gets it, braid's
//! cookies taken out), and the identity headers it last passed on, with what they were made
//! from. A browser sends the same cookie with every request
//! of a keep-alive connection, so both are found by one comparison instead of a parse, a
//! rewrite and a look-up in the shared caches.
//!
//! Each is a pure function of what it is kept under (the same bytes, or the very same shared
//! session record, trust check, route and keys): nothing decided is remembered. The session is
//! still read from the store and re-checked, and the route's policy applied, on every request.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderMap, HeaderValue, header};

use super::forward::{self, IdentityHeaders, Who};

use super::headers::{self, UpstreamCookie};
use super::table::Route;
use crate::error::AppError;
use crate::state::AppState;

/// The memory of one client connection.
#[derive(Default)]
pub struct Recall {
    /// The host its last request named (as sent), and whether braid's proxy serves it (its
    /// normalised form).
    host: Mutex<Option<HostSeen>>,
    cookie: Mutex<Option<CookieRead>>,
    identity: Mutex<Option<Made>>,
}

/// A host as sent, and the answer for it.
type HostSeen = (Box<str>, Option<Arc<str>>);

/// What braid read from a request's `Cookie` header.
#[derive(Clone)]
pub struct CookieRead {
    /// The single `Cookie` header it was read from, as sent.
    sent: Option<HeaderValue>,
    /// The browser session id it names.
    pub sid: Option<Arc<str>>,
    /// What the upstream gets instead of the request's `Cookie` headers.
    pub upstream: UpstreamCookie,
}

/// Identity headers and what they were made from (held, so that the same address is the same
/// record).
struct Made {
    record: Arc<crate::records::BrowserSession>,
    standing: Arc<crate::trust::Standing>,
    route: Arc<Route>,
    keys: Arc<crate::issuer::keyring::Keys>,
    headers: IdentityHeaders,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recall {
    /// `work(sent)` for the host `sent` (a pure function of it): remembered when the
    /// connection's last request named the same host, else worked out (and remembered).
    pub fn host(&self, sent: &str, work: impl FnOnce(&str) -> Option<Arc<str>>) -> Option<Arc<str>> {
        if let Some((_, known)) = lock(&self.host).as_ref().filter(|(h, _)| **h == *sent) {
            return known.clone();
        }
        let answer = work(sent);
        *lock(&self.host) = Some((sent.into(), answer.clone()));
        answer
    }

    /// What `headers`' cookies say: remembered when the connection's last request sent the same
    /// single `Cookie` header, else read (and remembered when there is one such header).
    pub fn cookie(&self, state: &AppState, headers: &HeaderMap) -> CookieRead {
        let mut all = headers.get_all(header::COOKIE).iter();
        let single = match (all.next(), all.next()) {
            (Some(v), None) => Some(v),
            (None, _) => return CookieRead { sent: None, sid: None, upstream: UpstreamCookie::AsSent },
            (Some(_), Some(_)) => None,
        };
        if let Some(sent) = single {
            // Compared in constant time: behind a proxy that sends many people's requests over
            // one connection, the header remembered may be someone else's session cookie.
            let same = |k: &&CookieRead| k.sent.as_ref().is_some_and(|k| same_bytes(k.as_bytes(), sent.as_bytes()));
            if let Some(known) = lock(&self.cookie).as_ref().filter(same) {
                return known.clone();
            }
        }
        let read = CookieRead {
            sent: single.cloned(),
            sid: state.session_cookie().get_str(headers).map(Arc::from),
            upstream: headers::cookie_for_upstream(headers),
        };
        if read.sent.is_some() {
            *lock(&self.cookie) = Some(read.clone());
        }
        read
    }

    /// The identity headers for `who` at `route` ([`forward::identity_headers`]): the ones last
    /// passed on when made from the same session record, trust check, route and keys and their
    /// assertion still has half its life left, else made (and remembered).
    pub fn identity(&self, state: &AppState, who: &Who, route: &Arc<Route>) -> Result<IdentityHeaders, AppError> {
        let keys = state.keys.snapshot();
        let now = who.checked_at();
        let (record, standing) = who.parts();
        let same = |m: &&Made| {
            Arc::ptr_eq(&m.record, record)
                && Arc::ptr_eq(&m.standing, standing)
                && Arc::ptr_eq(&m.route, route)
                && Arc::ptr_eq(&m.keys, &keys)
                && m.headers.exp - now >= forward::ASSERTION_TTL_SECS / 2
        };
        if let Some(made) = lock(&self.identity).as_ref().filter(same) {
            return Ok(made.headers.clone());
        }
        let headers = forward::identity_headers_at(state, who, route, &keys, now)?;
        *lock(&self.identity) = Some(Made {
            record: record.clone(),
            standing: standing.clone(),
            route: route.clone(),
            keys,
            headers: headers.clone(),
        });
        Ok(headers)
    }
}

/// Whether `a` and `b` are the same bytes, compared eight at a time in a time that depends on
/// their lengths only (no early exit on the first difference; the running difference goes
/// through an optimisation barrier at each step, as `subtle` does byte by byte at eight times
/// the cost).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (wa.remainder(), wb.remainder());
    let word = |c: &[u8]| c.iter().fold(0u64, |w, b| (w << 8) | u64::from(*b));
    let mut diff = 0u64;
    for (x, y) in wa.zip(wb) {
        diff = std::hint::black_box(diff | (word(x) ^ word(y)));
    }
    for (x, y) in ra.iter().zip(rb) {
        diff = std::hint::black_box(diff | u64::from(x ^ y));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn bytes_are_the_same_only_when_every_one_is() {
        let cookie = b"braid_session=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO".to_vec();
        assert!(same_bytes(&cookie, &cookie.clone()));
        assert!(same_bytes(b"", b""));
        for i in 0..cookie.len() {
            let mut other = cookie.clone();
            other[i] ^= 0x20;
            assert!(!same_bytes(&cookie, &other), "a difference at byte {i}");
        }
        assert!(!same_bytes(&cookie, &cookie[..cookie.len() - 1]), "a prefix");
        assert!(!same_bytes(b"a", b"b"));
    }
}
