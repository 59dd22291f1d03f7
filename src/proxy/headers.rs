//! The headers braid's own proxy rewrites: hop-by-hop headers dropped in both directions as
//! RFC 9110 §7.6.1 says (the `Connection` header and every header it names, `Keep-Alive`,
//! `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), except the upgrade itself; the
//! claims a client could forge (`X-Auth-Request-*`, `X-Braid-*`, `X-Forwarded-*`, `Forwarded`,
//! `X-Real-IP`) removed before braid adds its own; and braid's cookies taken out of `Cookie`
//! on the way in and out of `Set-Cookie` on the way back (an application neither reads nor
//! plants braid's session).

use axum::http::header::GetAll;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::web::cookies;

/// The tokens of every `Connection` header, as sent (compare them ignoring case).
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    tokens(&headers.get_all(header::CONNECTION))
}

/// The tokens of `Connection` headers `values`.
fn tokens<'a>(values: &GetAll<'a, HeaderValue>) -> impl Iterator<Item = &'a [u8]> + use<'a> {
    values.iter().flat_map(|v| v.as_bytes().split(|b| *b == b',')).map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// What a message's `Connection` headers say, read once.
#[derive(Debug, Clone, Default)]
pub struct Hops {
    /// The protocol it asks to switch to (`Connection: upgrade` with an `Upgrade` header).
    pub upgrade: Option<HeaderValue>,
    /// Whether they name a header beyond the fixed hop-by-hop ones (`Connection: keep-alive`,
    /// the usual value, names none).
    named: bool,
}

/// What `headers`' `Connection` headers say.
pub fn hops_of(headers: &HeaderMap) -> Hops {
    let (mut asked, mut named) = (false, false);
    for t in connection_tokens(headers) {
        asked |= t.eq_ignore_ascii_case(b"upgrade");
        named |= !is_fixed_hop(t);
    }
    Hops { upgrade: asked.then(|| headers.get(header::UPGRADE).cloned()).flatten(), named }
}

/// What the upstream gets in place of a request's `Cookie` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCookie {
    /// They pass as they are (a single `Cookie` header without braid's cookies).
    AsSent,
    /// None at all (there were only braid's cookies).
    Remove,
    /// This one header (the application's cookies, joined).
    Replace(HeaderValue),
}

impl UpstreamCookie {
    /// Apply to `headers`.
    pub fn apply(self, headers: &mut HeaderMap) {
        match self {
            Self::AsSent => {}
            Self::Remove => {
                headers.remove(header::COOKIE);
            }
            Self::Replace(v) => {
                headers.insert(header::COOKIE, v);
            }
        }
    }
}

/// A client's request made fit to pass on: the hop-by-hop headers (as `hops`, read from the
/// request as sent, says: [`hops_of`]; its upgrade passed on only when it is still asked for)
/// and every header a client could use to claim an identity (all of them, not only the names
/// braid sets) dropped in one pass over its names, then braid's cookies taken out as `cookie`
/// says (worked out from the request's headers as sent: [`cookie_for_upstream`]). A `Cookie`
/// that the client named hop-by-hop is gone and stays gone.
pub fn scrub_request(headers: &mut HeaderMap, hops: Hops, cookie: UpstreamCookie) {
    drop_where(headers, hops, is_claim);
    match cookie {
        UpstreamCookie::AsSent => {}
        // Removing what is gone already changes nothing.
        UpstreamCookie::Remove => cookie.apply(headers),
        UpstreamCookie::Replace(_) => {
            if headers.contains_key(header::COOKIE) {
                cookie.apply(headers);
            }
        }
    }
}

/// Whether `name` (a header's name or a `Connection` token, in any case) is one of the
/// hop-by-hop headers every connection drops, besides those `Connection` names: `Connection`,
/// `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade` and `Proxy-*`.
fn is_fixed_hop(name: &[u8]) -> bool {
    let is = |h: &[u8]| name.eq_ignore_ascii_case(h);
    // Told apart by the first letter, then compared whole: most names are passed over at once.
    match name.first().map(u8::to_ascii_lowercase) {
        Some(b'c') => is(b"connection"),
        Some(b'k') => is(b"keep-alive"),
        Some(b't') => is(b"te") || is(b"trailer") || is(b"transfer-encoding"),
        Some(b'u') => is(b"upgrade"),
        Some(b'p') => name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case(b"proxy-")),
        _ => false,
    }
}

/// An upstream's response made fit to pass on: its hop-by-hop headers dropped (its upgrade said
/// again when it `switched` protocols) and braid's cookies taken out of its `Set-Cookie`, in one
/// pass over its names. The protocol it switched to, if any.
pub fn scrub_response(headers: &mut HeaderMap, switched: bool) -> Option<HeaderValue> {
    let Hops { upgrade, named } = hops_of(headers);
    let upgrade = upgrade.filter(|_| switched);
    let set_cookie = std::cell::Cell::new(false);
    let note = |name: &HeaderName| {
        set_cookie.set(set_cookie.get() || name == header::SET_COOKIE);
        false
    };
    drop_where(headers, Hops { upgrade: upgrade.clone(), named }, note);
    if set_cookie.get() {
        drop_braid_set_cookies(headers);
    }
    upgrade
}

/// Drop the hop-by-hop headers and those `also` names, then say the upgrade again.
fn drop_where(headers: &mut HeaderMap, hops: Hops, also: impl Fn(&HeaderName) -> bool) {
    let Hops { upgrade, named } = hops;
    // Only when `Connection` names a header beyond the fixed ones is every name compared with
    // its tokens.
    let connection = named.then(|| headers.get_all(header::CONNECTION));
    let is_hop_by_hop = |name: &HeaderName| {
        let name = name.as_str().as_bytes();
        is_fixed_hop(name) || connection.as_ref().is_some_and(|c| tokens(c).any(|t| t.eq_ignore_ascii_case(name)))
    };
    // The names to drop: the first few kept without an allocation (a message usually has one,
    // `Connection`, or none).
    let (mut few, mut more): ([Option<HeaderName>; 4], Vec<HeaderName>) = Default::default();
    let mut found = 0;
    for name in headers.keys().filter(|k| is_hop_by_hop(k) || also(k)) {
        match few.get_mut(found) {
            Some(slot) => *slot = Some(name.clone()),
            None => more.push(name.clone()),
        }
        found += 1;
    }
    // Most requests have nothing to drop.
    if found > 0 {
        for name in few.into_iter().flatten().chain(more) {
            headers.remove(name);
        }
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

/// Whether a client-sent header could claim an identity, an address or a scheme.
fn is_claim(name: &HeaderName) -> bool {
    // CGI-style servers read `X_Auth_Request_User` as `X-Auth-Request-User`: both spellings go.
    let n = name.as_str().as_bytes();
    // Each name below starts with `x` or `f`: most names are passed over after one byte.
    if !matches!(n.first(), Some(b'x' | b'f')) {
        return false;
    }
    let dashed = |b: &u8| if *b == b'_' { b'-' } else { *b };
    let starts = |p: &str| n.len() >= p.len() && n.iter().map(dashed).zip(p.bytes()).all(|(a, b)| a == b);
    let is = |p: &str| n.len() == p.len() && starts(p);
    starts("x-auth-request-")
        || starts("x-braid-")
        || starts("x-forwarded-")
        || is("forwarded")
        || is("x-real-ip")
        || is("x-original-url")
        || is("x-rewrite-url")
}

/// Whether cookie `name` is one of braid's, under any prefix braid uses (or may: `__Secure-`
/// is the prefix of a session cookie with a `Domain`), in any case.
fn is_braids(name: &[u8]) -> bool {
    let strip = |p: &[u8]| name.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &name[p.len()..]);
    let base = strip(b"__host-").or_else(|| strip(b"__secure-")).unwrap_or(name);
    [cookies::SESSION, cookies::LOGIN, cookies::PROOF, cookies::SAML]
        .iter()
        .any(|c| c.as_bytes().eq_ignore_ascii_case(base))
}

/// The name of a `name=value` pair (a cookie or a `Set-Cookie`), trimmed.
fn cookie_name(pair: &[u8]) -> &[u8] {
    pair.split(|b| *b == b'=').next().unwrap_or_default().trim_ascii()
}

/// Take braid's cookies out of `Cookie` (every `Cookie` header is joined into one); the
/// application's own cookies pass unchanged. A single `Cookie` header without braid's is left
/// as it is.
pub fn drop_braid_cookies(headers: &mut HeaderMap) {
    cookie_for_upstream(headers).apply(headers);
}

/// What [`drop_braid_cookies`] does to `headers`.
pub fn cookie_for_upstream(headers: &HeaderMap) -> UpstreamCookie {
    let mut kept: Vec<u8> = Vec::new();
    let (mut seen, mut dropped) = (0, false);
    for v in headers.get_all(header::COOKIE) {
        seen += 1;
        for pair in cookies::pairs(v.as_bytes()).map(<[u8]>::trim_ascii).filter(|p| !p.is_empty()) {
            if is_braids(cookie_name(pair)) {
                dropped = true;
            } else {
                if !kept.is_empty() {
                    kept.extend_from_slice(b"; ");
                }
                kept.extend_from_slice(pair);
            }
        }
    }
    if seen <= 1 && !dropped {
        return UpstreamCookie::AsSent;
    }
    match HeaderValue::from_maybe_shared(axum::body::Bytes::from(kept)) {
        Ok(v) if !v.is_empty() => UpstreamCookie::Replace(v),
        _ => UpstreamCookie::Remove,
    }
}

/// Drop the upstream's `Set-Cookie` headers that name one of braid's cookies; the
/// application's own pass unchanged.
pub fn drop_braid_set_cookies(headers: &mut HeaderMap) {
    let braids = |v: &HeaderValue| is_braids(cookie_name(v.as_bytes()));
    if !headers.get_all(header::SET_COOKIE).iter().any(braids) {
        return;
    }
    let kept: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().filter(|v| !braids(v)).cloned().collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut m = h(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-t"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("accept", "text/html"),
        ]);
        assert_eq!(hops_of(&m).upgrade, None, "no `upgrade` token");
        assert_eq!(scrub_response(&mut m, true), None);
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn a_connection_header_naming_only_fixed_hops_drops_nothing_else() {
        let mut m =
            h(&[("connection", "Keep-Alive, TE, Proxy-Foo"), ("te", "trailers"), ("accept", "*/*"), ("x-app", "1")]);
        scrub_response(&mut m, false);
        let mut left: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-app"]);
        let mut m = h(&[("connection", "keep-alive"), ("connection", "X-App"), ("x-app", "1"), ("accept", "*/*")]);
        scrub_response(&mut m, false);
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"], "a second header names x-app");
    }

    #[test]
    fn a_name_and_a_connection_token_are_judged_alike() {
        let hop = [
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "proxy-authenticate",
            "proxy-connection",
            "proxy-",
        ];
        let not = ["content-type", "content-length", "cookie", "tes", "t", "upgrades", "proxy", "x-proxy-a", ""];
        for (names, expected) in [(&hop[..], true), (&not[..], false)] {
            for n in names {
                // As a header's name (lower case) and as a token in any case.
                assert_eq!(is_fixed_hop(n.as_bytes()), expected, "{n}");
                assert_eq!(is_fixed_hop(n.to_ascii_uppercase().as_bytes()), expected, "{n}");
                let mixed: String =
                    n.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
                assert_eq!(is_fixed_hop(mixed.as_bytes()), expected, "{mixed}");
            }
        }
    }

    #[test]
    fn an_upgrade_is_passed_on() {
        let mut m = h(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", "k")]);
        let up = scrub_response(&mut m, true);
        assert_eq!(up.as_ref().map(|v| v.as_bytes()), Some(&b"websocket"[..]));
        assert_eq!(m["connection"], "upgrade");
        assert_eq!(m["upgrade"], "websocket");
        assert_eq!(m["sec-websocket-key"], "k");
    }

    #[test]
    fn a_request_is_scrubbed_of_hops_claims_and_braids_cookies_in_one_call() {
        let mut m = h(&[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("proxy-authorization", "Basic eA=="),
            ("x-auth-request-user", "admin"),
            ("x_forwarded_for", "1.2.3.4"),
            ("cookie", "app=1; braid_session=s"),
            ("accept", "text/html"),
        ]);
        let (cookie, hops) = (cookie_for_upstream(&m), hops_of(&m));
        scrub_request(&mut m, hops, cookie);
        let mut left: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "cookie"]);
        assert_eq!(m["cookie"], "app=1");
    }

    #[test]
    fn a_response_is_scrubbed_of_hops_and_braids_set_cookies_in_one_call() {
        let mut m = h(&[
            ("connection", "keep-alive, x-hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("set-cookie", "app=1; Path=/"),
            ("set-cookie", "__Host-braid_session=planted; Path=/; Secure"),
            ("content-type", "text/html"),
        ]);
        assert_eq!(scrub_response(&mut m, false), None);
        let mut left: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "set-cookie"]);
        assert_eq!(m.get_all("set-cookie").iter().collect::<Vec<_>>(), ["app=1; Path=/"]);
        // A switch of protocols keeps its upgrade; an upgrade offered without one is dropped.
        let switched = || h(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-accept", "a")]);
        let mut m = switched();
        assert_eq!(scrub_response(&mut m, true).as_ref().map(|v| v.as_bytes()), Some(&b"websocket"[..]));
        assert_eq!(m["connection"], "upgrade");
        assert_eq!(m["upgrade"], "websocket");
        let mut m = switched();
        assert_eq!(scrub_response(&mut m, false), None);
        assert!(m.get("connection").is_none() && m.get("upgrade").is_none());
    }

    #[test]
    fn every_claim_header_is_dropped() {
        let mut m = h(&[
            ("x-auth-request-user", "a"),
            ("x-auth-request-groups", "admins"),
            ("x-braid-assertion", "t"),
            ("x-braid-anything", "t"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-host", "x"),
            ("forwarded", "for=1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("x_auth_request_user", "admin"),
            ("x-auth_request-email", "a@b"),
            ("x_braid_assertion", "t"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("x-auth", "kept"),
        ]);
        let (cookie, hops) = (cookie_for_upstream(&m), hops_of(&m));
        scrub_request(&mut m, hops, cookie);
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-auth"]);
    }

    #[test]
    fn braids_cookies_are_dropped_under_every_prefix_and_others_pass() {
        let mut m = h(&[
            ("cookie", "app=1; braid_session=s; __Host-braid_login=l; theme=dark"),
            ("cookie", "__Secure-braid_session=x; braid_proof=p;braid_saml=q; BRAID_SESSION=c; braid_sessionx=k"),
        ]);
        drop_braid_cookies(&mut m);
        assert_eq!(m.get_all("cookie").iter().count(), 1);
        assert_eq!(m["cookie"], "app=1; theme=dark; braid_sessionx=k");
        let mut apps = h(&[("cookie", "app=1;theme=dark")]);
        drop_braid_cookies(&mut apps);
        assert_eq!(apps["cookie"], "app=1;theme=dark", "one header without braid's cookies is left as sent");
        let mut two = h(&[("cookie", "app=1"), ("cookie", "theme=dark")]);
        drop_braid_cookies(&mut two);
        assert_eq!(two.get_all("cookie").iter().collect::<Vec<_>>(), ["app=1; theme=dark"], "joined into one");
        let mut only = h(&[("cookie", "__Host-braid_session=s")]);
        drop_braid_cookies(&mut only);
        assert!(only.get("cookie").is_none());
        let mut set = h(&[
            ("set-cookie", "app=1; Path=/"),
            ("set-cookie", "__Secure-braid_session=planted; Domain=example.com; Secure"),
            ("set-cookie", " braid_login=x"),
            ("set-cookie", "theme=dark"),
        ]);
        drop_braid_set_cookies(&mut set);
        let left: Vec<&str> = set.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(left, ["app=1; Path=/", "theme=dark"]);
    }
}
