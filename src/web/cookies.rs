//! Cookies: braid's cookies carry only opaque random ids. `__Host-` prefix and `Secure` on an
//! https public URL; the plain names on an http loopback URL for development and tests.

use axum::http::{HeaderMap, HeaderValue, header};

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
    let want = name(base, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == want)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
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
}
