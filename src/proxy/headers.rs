//! The headers braid's own proxy rewrites: hop-by-hop headers dropped in both directions as
//! RFC 9110 §7.6.1 says (the `Connection` header and every header it names, `Keep-Alive`,
//! `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), except the upgrade itself; the
//! claims a client could forge (`X-Auth-Request-*`, `X-Braid-*`, `X-Forwarded-*`, `Forwarded`,
//! `X-Real-IP`) removed before braid adds its own; and braid's cookies taken out of `Cookie`
//! on the way in and out of `Set-Cookie` on the way back (an application neither reads nor
//! plants braid's session).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::web::cookies;

/// Hop-by-hop headers every connection drops, besides those `Connection` names.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The tokens of every `Connection` header, lower case.
fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|t| String::from_utf8_lossy(t).trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The protocol a request asks to switch to (`Connection: upgrade` with an `Upgrade` header).
pub fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let asked = connection_tokens(headers).iter().any(|t| t == "upgrade");
    asked.then(|| headers.get(header::UPGRADE).cloned()).flatten()
}

/// Drop the hop-by-hop headers; with `upgrade`, say `Connection: upgrade` and `Upgrade` again
/// (the one hop-by-hop exchange a proxy passes on).
pub fn drop_hop_by_hop(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    for name in connection_tokens(headers) {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let proxy: Vec<HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("proxy-")).cloned().collect();
    for name in proxy {
        headers.remove(name);
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

/// Whether a client-sent header could claim an identity, an address or a scheme.
fn is_claim(name: &HeaderName) -> bool {
    // CGI-style servers read `X_Auth_Request_User` as `X-Auth-Request-User`: both spellings go.
    let n = name.as_str().replace('_', "-");
    let n = n.as_str();
    n.starts_with("x-auth-request-")
        || n.starts_with("x-braid-")
        || n.starts_with("x-forwarded-")
        || n == "forwarded"
        || n == "x-real-ip"
        || n == "x-original-url"
        || n == "x-rewrite-url"
}

/// Remove every header a client could use to claim an identity (all of them, not only the
/// names braid sets).
pub fn drop_claims(headers: &mut HeaderMap) {
    let claims: Vec<HeaderName> = headers.keys().filter(|k| is_claim(k)).cloned().collect();
    for name in claims {
        headers.remove(name);
    }
}

/// Whether cookie `name` is one of braid's, under any prefix braid uses (or may: `__Secure-`
/// is the prefix of a session cookie with a `Domain`).
fn is_braids(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let base = name.strip_prefix("__host-").or_else(|| name.strip_prefix("__secure-")).unwrap_or(&name);
    [cookies::SESSION, cookies::LOGIN, cookies::PROOF, cookies::SAML].iter().any(|c| c.eq_ignore_ascii_case(base))
}

/// Take braid's cookies out of `Cookie` (every `Cookie` header is joined into one); the
/// application's own cookies pass unchanged.
pub fn drop_braid_cookies(headers: &mut HeaderMap) {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        for pair in v.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let name = pair.split(|b| *b == b'=').next().unwrap_or_default().trim_ascii();
            if !is_braids(name) {
                kept.push(pair.to_vec());
            }
        }
    }
    headers.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
        if !kept.is_empty() {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// Drop the upstream's `Set-Cookie` headers that name one of braid's cookies; the
/// application's own pass unchanged.
pub fn drop_braid_set_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !is_braids(v.as_bytes().split(|b| *b == b'=').next().unwrap_or_default().trim_ascii()))
        .cloned()
        .collect();
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
        assert_eq!(upgrade_of(&m), None, "no `upgrade` token");
        drop_hop_by_hop(&mut m, None);
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn an_upgrade_is_passed_on() {
        let mut m = h(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", "k")]);
        let up = upgrade_of(&m);
        assert_eq!(up.as_ref().map(|v| v.as_bytes()), Some(&b"websocket"[..]));
        drop_hop_by_hop(&mut m, up);
        assert_eq!(m["connection"], "upgrade");
        assert_eq!(m["upgrade"], "websocket");
        assert_eq!(m["sec-websocket-key"], "k");
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
        drop_claims(&mut m);
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
