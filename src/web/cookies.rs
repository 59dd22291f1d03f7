//! Cookies: braid's cookies carry only opaque random ids. `__Host-` prefix and `Secure` on an
//! https public URL; the plain names on an http loopback URL for development and tests. The
//! session cookie alone may be shared with the subdomains of `[session] cookie_domain`
//! ([`SessionCookie`]): it then carries that `Domain` and, on https, the `__Secure-` prefix
//! (`__Host-` forbids a `Domain`). The checks of that domain live here too.

use axum::http::{HeaderMap, HeaderValue, header};
use url::Url;

/// The browser-session cookie.
pub const SESSION: &str = "braid_session";
/// The cookie binding an upstream login attempt to this browser.
pub const LOGIN: &str = "braid_login";
/// The cookie binding a pending link-by-email proof to this browser.
pub const PROOF: &str = "braid_proof";

/// The cookie binding a SAML login attempt to this browser: the IdP's answer is a cross-site
/// POST, which carries no SameSite=Lax cookie.
pub const SAML: &str = "braid_saml";

/// The name a cookie has under the current scheme.
pub fn name(base: &str, secure: bool) -> String {
    if secure { format!("__Host-{base}") } else { base.to_owned() }
}

/// The value of cookie `base` in the request, if any.
pub fn get(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    find(headers, &name(base, secure))
}

/// The value of the cookie named exactly `want`, when it is an opaque id.
fn find(headers: &HeaderMap, want: &str) -> Option<String> {
    find_named(headers, "", want).map(str::to_owned)
}

/// The bytes that may appear in an opaque id (ASCII letters and digits, `-`, `_`), as a table.
static OPAQUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

/// The `;`-separated parts of a `Cookie` header's value, untrimmed (empty ones at the end are
/// not given). The separators are found with memchr's vector search rather than byte by byte:
/// the proxy paths read the cookies of every request.
pub fn pairs(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        let pair = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        Some(pair)
    })
}

/// The value of the first cookie named `prefix` + `base` (neither holds `=`), when it is an
/// opaque id. One pass over the bytes without building the name: the proxy paths read the
/// session cookie on every request.
fn find_named<'h>(headers: &'h HeaderMap, prefix: &str, base: &str) -> Option<&'h str> {
    let (prefix, base) = (prefix.as_bytes(), base.as_bytes());
    let len = prefix.len() + base.len();
    for v in headers.get_all(header::COOKIE) {
        for pair in pairs(v.as_bytes()) {
            let pair = pair.trim_ascii();
            // The name is what precedes the first `=`; neither part of the one wanted holds one.
            let named = pair.get(len) == Some(&b'=') && pair.starts_with(prefix) && pair[prefix.len()..len] == *base;
            if named {
                let value = &pair[len + 1..];
                if value.is_empty() || !value.iter().all(|c| OPAQUE[usize::from(*c)]) {
                    return None;
                }
                // Opaque ids are ASCII.
                return std::str::from_utf8(value).ok();
            }
        }
    }
    None
}

/// The opaque ids of a cookie that carries a list of them, separated by `.` (the login cookie:
/// the sign-ins this browser has under way, newest first). Ids that are not opaque are dropped.
pub fn get_list(headers: &HeaderMap, base: &str, secure: bool) -> Vec<String> {
    let want = name(base, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == want)
        .map(|(_, v)| {
            v.split('.')
                .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure when `secure`.
pub fn set(base: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let mut s = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}", name(base, secure));
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value for a cookie that must come back on a cross-site POST: SameSite=None
/// (which browsers accept only with Secure) on https; Lax on an http loopback URL, where the
/// IdP and braid are the same site anyway.
pub fn set_cross_site(base: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    if !secure {
        return set(base, value, max_age_secs, false);
    }
    let s = format!("{}={value}; Path=/; HttpOnly; SameSite=None; Max-Age={max_age_secs}; Secure", name(base, true));
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn clear(base: &str, secure: bool) -> HeaderValue {
    set(base, "", 0, secure)
}

/// The browser-session cookie as the settings scope it: host-only (`__Host-braid_session` on
/// https), or valid for `domain` and its subdomains (`__Secure-braid_session` on https, with
/// `Domain=`). On http (loopback development) the name has no prefix either way. Only the name
/// in force is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie<'a> {
    secure: bool,
    domain: Option<&'a str>,
}

impl<'a> SessionCookie<'a> {
    /// The session cookie on an https (`secure`) or http public URL, shared with `domain`'s
    /// subdomains when given (a domain checked by the settings, in lower case).
    pub fn new(secure: bool, domain: Option<&'a str>) -> Self {
        Self { secure, domain }
    }

    /// The cookie's name.
    pub fn name(&self) -> String {
        match (self.secure, self.domain) {
            (false, _) => SESSION.to_owned(),
            (true, None) => format!("__Host-{SESSION}"),
            (true, Some(_)) => format!("__Secure-{SESSION}"),
        }
    }

    /// The session id in the request: only the cookie of the name in force counts.
    pub fn get(&self, headers: &HeaderMap) -> Option<String> {
        self.get_str(headers).map(str::to_owned)
    }

    /// As [`Self::get`], borrowed from the request (the proxy paths read it on every request).
    pub fn get_str<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let prefix = match (self.secure, self.domain) {
            (false, _) => "",
            (true, None) => "__Host-",
            (true, Some(_)) => "__Secure-",
        };
        find_named(headers, prefix, SESSION)
    }

    /// The `Set-Cookie` value: as [`set`], with `Domain=` when shared.
    fn value(&self, value: &str, max_age_secs: u64) -> HeaderValue {
        let mut s = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}", self.name());
        if let Some(d) = self.domain {
            s.push_str("; Domain=");
            s.push_str(d);
        }
        if self.secure {
            s.push_str("; Secure");
        }
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// Append the `Set-Cookie` headers that start a session with id `value`. A shared cookie
    /// first deletes the host-only one braid set before `cookie_domain` was configured, so that
    /// a browser never holds two session cookies.
    pub fn set(&self, headers: &mut HeaderMap, value: &str, max_age_secs: u64) {
        if self.domain.is_some() {
            headers.append(header::SET_COOKIE, clear(SESSION, self.secure));
        }
        headers.append(header::SET_COOKIE, self.value(value, max_age_secs));
    }

    /// Append the `Set-Cookie` headers that delete the session cookie (and a host-only one left
    /// from before `cookie_domain`).
    pub fn clear(&self, headers: &mut HeaderMap) {
        self.set(headers, "", 0);
    }
}

/// The host of an http(s) URL in lower case, when it is a name (not an IP address).
fn host_name(url: &str) -> Option<String> {
    match Url::parse(url).ok()?.host()? {
        url::Host::Domain(d) => Some(d.to_ascii_lowercase()),
        _ => None,
    }
}

/// Whether `host` is `domain` or one of its subdomains (both lower case).
fn within(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

/// `[session] cookie_domain` checked: a DNS name of two labels or more, without a leading dot,
/// that is braid's host (from `public_url`) or a parent of it. A browser refuses a cookie for
/// another domain, or for a whole top-level domain; braid does not carry the public suffix list,
/// so a registry's domain such as `co.uk` passes here and is refused by browsers.
pub fn check_domain(domain: &str, public_url: &str) -> Result<(), String> {
    if domain.starts_with('.') {
        return Err(format!(
            "write `{}` without the leading dot: the cookie is valid for the domain and all its subdomains either way",
            domain.trim_start_matches('.')
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!(
            "`{domain}` must be a domain name like example.com (no scheme, port, path or wildcard; international \
             names in their xn-- form)"
        ));
    }
    if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{domain}` is an IP address: only host names can share a cookie"));
    }
    if labels.len() < 2 {
        return Err(format!(
            "`{domain}` is a whole top-level domain: browsers refuse a cookie for one (`test` and `localhost` too), \
             so the session would never stick; name the parent of braid's host, like example.com"
        ));
    }
    let domain = domain.to_ascii_lowercase();
    match host_name(public_url) {
        Some(host) if within(&host, &domain) => Ok(()),
        Some(host) => Err(format!(
            "braid's host `{host}` (from server.public_url) is not `{domain}` or a subdomain of it: browsers refuse a \
             cookie for another domain"
        )),
        None => Err(format!(
            "server.public_url `{public_url}` has an IP address for a host: a shared cookie needs braid on a host name \
             under `{domain}`"
        )),
    }
}

/// Why a browser at route host `route_host` would never send the session cookie shared with
/// `domain` (nor braid's host-only one): forward-auth there would send it to sign in forever.
pub fn route_without_cookie(route_host: &str, domain: &str, public_url: &str) -> Option<String> {
    let host_of = |url: &str| Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    // A malformed host is named by the route checks already.
    let host = host_of(&format!("http://{route_host}/"))?;
    let domain = domain.to_ascii_lowercase();
    if within(&host, &domain) || host_of(public_url).as_deref() == Some(host.as_str()) {
        return None;
    }
    Some(format!(
        "`{route_host}` is neither under `[session] cookie_domain` `{domain}` nor braid's own host: the browser never \
         sends braid's session cookie there, so sign-in would never reach the application"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_and_attributes_follow_the_scheme() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; braid_session=abc_-9; __Host-braid_login=zz"));
        assert_eq!(get(&h, SESSION, false).as_deref(), Some("abc_-9"));
        assert_eq!(get(&h, LOGIN, true).as_deref(), Some("zz"));
        assert_eq!(get(&h, LOGIN, false), None);
        let secure = set(SESSION, "v", 60, true);
        assert_eq!(
            secure.to_str().unwrap(),
            "__Host-braid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set(SESSION, "v", 60, false).to_str().unwrap().contains("Secure"));
    }

    fn set_cookies(c: SessionCookie<'_>, value: &str, max_age: u64) -> Vec<String> {
        let mut h = HeaderMap::new();
        if max_age == 0 {
            c.clear(&mut h)
        } else {
            c.set(&mut h, value, max_age)
        }
        h.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn the_session_cookie_is_host_only_or_shared_with_the_cookie_domain() {
        let host_only = SessionCookie::new(true, None);
        assert_eq!(
            set_cookies(host_only, "v", 60),
            ["__Host-braid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"]
        );
        assert_eq!(
            set_cookies(SessionCookie::new(false, None), "v", 60),
            ["braid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"]
        );
        // Shared: `__Secure-` (a `__Host-` cookie may carry no Domain), and the host-only cookie
        // of before is deleted first.
        assert_eq!(
            set_cookies(SessionCookie::new(true, Some("example.com")), "v", 60),
            [
                "__Host-braid_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure",
                "__Secure-braid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Domain=example.com; Secure",
            ]
        );
        assert_eq!(
            set_cookies(SessionCookie::new(false, Some("example.test")), "v", 60),
            [
                "braid_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
                "braid_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Domain=example.test",
            ]
        );
        assert_eq!(
            set_cookies(SessionCookie::new(true, Some("example.com")), "", 0),
            [
                "__Host-braid_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure",
                "__Secure-braid_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Domain=example.com; Secure",
            ]
        );
    }

    #[test]
    fn a_cookie_is_found_by_its_whole_name_and_only_an_opaque_value_counts() {
        let read = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::COOKIE, HeaderValue::from_static(v));
            }
            SessionCookie::new(false, None).get(&h)
        };
        assert_eq!(read(&["xbraid_session=1; braid_sessionx=2;  braid_session=ok-1_Z  "]).as_deref(), Some("ok-1_Z"));
        assert_eq!(read(&["app=1", "theme=dark; braid_session=second"]).as_deref(), Some("second"));
        assert_eq!(read(&["braid_session =spaced; a=1"]), None, "a name with a space is another name");
        assert_eq!(read(&["braid_session="]), None, "empty");
        assert_eq!(read(&["braid_session=a.b"]), None, "not opaque");
        assert_eq!(read(&["braid_session=bad!; braid_session=good"]), None, "the first of the name decides");
        assert_eq!(read(&["braid_session"]), None, "no value at all");
        assert_eq!(read(&["__Host-braid_session=h"]), None, "another name on http");
    }

    #[test]
    fn only_the_session_cookie_name_in_force_is_read() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("__Host-braid_session=old; __Secure-braid_session=new"));
        assert_eq!(SessionCookie::new(true, Some("example.com")).get(&h).as_deref(), Some("new"));
        assert_eq!(SessionCookie::new(true, None).get(&h).as_deref(), Some("old"));
        assert_eq!(SessionCookie::new(false, Some("example.com")).get(&h), None);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("__Secure-braid_session=new"));
        assert_eq!(SessionCookie::new(true, None).get(&h), None, "a host-only setup ignores the shared name");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("braid_session=plain"));
        assert_eq!(SessionCookie::new(false, Some("example.test")).get(&h).as_deref(), Some("plain"));
        assert_eq!(SessionCookie::new(true, Some("example.com")).get(&h), None);
    }
}
