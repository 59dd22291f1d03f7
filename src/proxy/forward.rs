//! `GET /auth/verify` and `GET /auth/forward`: a proxy asks whether the request it holds may
//! pass. The original request comes from `X-Forwarded-Proto/Host/Uri` or nginx's
//! `X-Original-URL` (both present must agree); its route is found by host and longest path
//! prefix (no route: 403). Public paths pass without a session. Otherwise the browser session
//! is re-checked on every request (`trust::standing_reused`: a session whose identity, provider
//! or account no longer stands is ended at once; the SQL half of a passed check is reused for up
//! to a second unless this process commits an account change first), the route's policy is
//! applied, and the answer
//! carries the identity headers and a short-lived signed assertion.
//!
//! The decision ([`decide_for`]), the identity headers ([`identity_headers`]) and the refusal
//! pages are shared with braid's own reverse proxy (`proxy::reverse`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use url::Url;

use super::assertions::Facts;
use super::table::{self, Route};
use crate::error::AppError;
use crate::records::BrowserSession;
use crate::state::AppState;
use crate::web::html;

/// Lifetime of an `X-Braid-Assertion`, in seconds.
pub const ASSERTION_TTL_SECS: i64 = 60;
/// `typ` of an `X-Braid-Assertion` (never an ID or access token).
pub const TYP_ASSERTION: &str = "braid-assertion+jwt";

/// The account id (the `sub` of braid's tokens).
pub const USER: HeaderName = HeaderName::from_static("x-auth-request-user");
/// The primary identity's email, only when verified.
pub const EMAIL: HeaderName = HeaderName::from_static("x-auth-request-email");
/// The primary identity's preferred user name (or display name).
pub const PREFERRED_USERNAME: HeaderName = HeaderName::from_static("x-auth-request-preferred-username");
/// The issuer of the identity this session signed in with.
pub const IDP: HeaderName = HeaderName::from_static("x-auth-request-idp");
/// The signed assertion.
pub const ASSERTION: HeaderName = HeaderName::from_static("x-braid-assertion");

/// The request a proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Normalised authority (as routes name it).
    pub host: Arc<str>,
    /// The request target as sent (path and query).
    pub target: String,
    /// The normalised path, when it differs from the path of `target` (most paths are normal
    /// as sent).
    normal: Option<String>,
    /// The length of the path of `target` (up to its `?`).
    path_len: usize,
}

impl Original {
    /// Normalised path (as routes match it).
    pub fn path(&self) -> &str {
        match &self.normal {
            Some(p) => p,
            None => self.target.get(..self.path_len).unwrap_or_default(),
        }
    }

    /// The URL the browser asked for (where sign-in returns to); worked out only when needed.
    pub fn url(&self) -> Option<String> {
        Url::parse(&format!("{}://{}{}", self.scheme, self.host, self.target)).ok().map(String::from)
    }
}

/// The value of header `name`, when sent exactly once (an empty value counts as absent).
fn header_once(headers: &HeaderMap, name: HeaderName) -> Result<Option<&str>, &'static str> {
    let mut all = headers.get_all(name).iter();
    let Some(first) = all.next() else { return Ok(None) };
    if all.next().is_some() {
        return Err("a forwarding header is sent more than once");
    }
    let v = first.to_str().map_err(|_| "a forwarding header is not ASCII")?.trim();
    Ok(Some(v).filter(|v| !v.is_empty()))
}

/// `scheme://authority` checked and the authority normalised. Answers are remembered (a proxy
/// asks about few hosts, over and over); past [`MAX_REMEMBERED_HOSTS`] distinct ones, new hosts
/// are worked out each time.
pub fn authority_of(scheme: &str, raw: &str) -> Result<String, &'static str> {
    // One map per scheme (`[https, http]`), so that a known host is found by its text alone.
    type Memo = std::sync::Mutex<[std::collections::HashMap<String, Result<String, &'static str>>; 2]>;
    static MEMO: std::sync::OnceLock<Memo> = std::sync::OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    let which = match scheme {
        "https" => 0,
        "http" => 1,
        _ => return authority_uncached(scheme, raw),
    };
    if let Some(known) = memo.lock().unwrap_or_else(|p| p.into_inner())[which].get(raw) {
        return known.clone();
    }
    let answer = authority_uncached(scheme, raw);
    let mut memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    if memo.iter().map(|m| m.len()).sum::<usize>() < MAX_REMEMBERED_HOSTS {
        memo[which].insert(raw.to_owned(), answer.clone());
    }
    answer
}

/// Distinct host values whose normalised form is remembered.
pub const MAX_REMEMBERED_HOSTS: usize = 4096;

fn authority_uncached(scheme: &str, raw: &str) -> Result<String, &'static str> {
    if raw.contains(['/', '@', ',', '?', '#', '\\', ' ']) {
        return Err("the forwarded host is not a host name");
    }
    let url = Url::parse(&format!("{scheme}://{raw}/")).map_err(|_| "the forwarded host is not a host name")?;
    table::authority(&url).ok_or("the forwarded host is not a host name")
}

/// The original request from the proxy's headers.
pub fn original(headers: &HeaderMap) -> Result<Original, &'static str> {
    const XOU: HeaderName = HeaderName::from_static("x-original-url");
    const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");
    const XFU: HeaderName = HeaderName::from_static("x-forwarded-uri");
    const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
    let (xou, xfh) = (header_once(headers, XOU)?, header_once(headers, XFH)?);
    let (xfu, xfp) = (header_once(headers, XFU)?, header_once(headers, XFP)?);
    // X-Original-URL, split by hand so that its path reaches the normaliser as sent.
    let from_url = match xou {
        None => None,
        Some(u) => {
            let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
            let (scheme, rest) = if lower.starts_with("https://") {
                ("https", &u[8..])
            } else if lower.starts_with("http://") {
                ("http", &u[7..])
            } else {
                return Err("X-Original-URL is not an absolute http(s) URL");
            };
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let host = authority_of(scheme, &rest[..end])?;
            let uri = match &rest[end..] {
                "" => "/".to_owned(),
                q if q.starts_with('?') => format!("/{q}"),
                p => p.to_owned(),
            };
            Some((scheme, host, uri))
        }
    };
    let disagree = "X-Forwarded-* and X-Original-URL disagree";
    let scheme = match (xfp.map(str::to_ascii_lowercase).as_deref(), &from_url) {
        (Some("http"), None) => "http",
        (Some("https"), None) => "https",
        (Some(p), Some((s, _, _))) if p == *s => s,
        (Some("http" | "https"), Some(_)) => return Err(disagree),
        (Some(_), _) => return Err("X-Forwarded-Proto must be http or https"),
        (None, Some((s, _, _))) => s,
        // A proxy that does not say: the scheme braid assumes for a return address is https.
        (None, None) => "https",
    };
    let host = match (xfh, &from_url) {
        (Some(h), u) => {
            let host = authority_of(scheme, h)?;
            if u.as_ref().is_some_and(|(_, uh, _)| *uh != host) {
                return Err(disagree);
            }
            host
        }
        (None, Some((_, h, _))) => h.clone(),
        (None, None) => return Err("X-Forwarded-Host (or X-Original-URL) is required"),
    };
    let uri = match (xfu, &from_url) {
        (Some(x), Some((_, _, u))) if x != u => return Err(disagree),
        (Some(x), _) => x.to_owned(),
        (None, Some((_, _, u))) => u.clone(),
        (None, None) => return Err("X-Forwarded-Uri (or X-Original-URL) is required"),
    };
    original_of(scheme, host.into(), uri)
}

/// The original request from its scheme, normalised authority and request target (path and
/// query, as sent).
pub fn original_of(scheme: &'static str, host: Arc<str>, uri: String) -> Result<Original, &'static str> {
    let path_len = uri.bytes().position(|b| b == b'?').unwrap_or(uri.len());
    let normal = match table::normalized(&uri[..path_len]).ok_or(table::AMBIGUOUS_PATH)? {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(p) => Some(p),
    };
    Ok(Original { scheme, host, target: uri, normal, path_len })
}

/// Who is signed in, as the application is told: read from the session and the trust check
/// that passed, without copying.
#[derive(Debug, Clone)]
pub struct Who {
    /// The browser session's id (braid's own: never sent to an application; a proxied
    /// WebSocket watches it).
    pub session: Arc<str>,
    record: Arc<BrowserSession>,
    standing: Arc<crate::trust::Standing>,
    /// When it was checked (braid's clock, milliseconds): the time its identity headers are
    /// signed at.
    now_ms: i64,
}

impl Who {
    /// When it was checked, in seconds since the epoch.
    pub fn checked_at(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }

    /// The account id.
    pub fn account(&self) -> &str {
        self.record.account_id.as_str()
    }

    /// The session's record and the trust check that passed, shared (what a connection's
    /// memory of its identity headers is keyed by: `proxy::recall`).
    pub fn parts(&self) -> (&Arc<BrowserSession>, &Arc<crate::trust::Standing>) {
        (&self.record, &self.standing)
    }

    /// Issuer of the identity used.
    pub fn idp(&self) -> &str {
        &self.record.idp
    }

    /// The primary identity's email, when verified.
    pub fn email(&self) -> Option<&str> {
        self.standing.primary.as_ref().filter(|p| p.email_verified).and_then(|p| p.email.as_deref())
    }

    /// The primary identity's preferred user name or display name.
    pub fn preferred_username(&self) -> Option<&str> {
        let p = self.standing.primary.as_ref()?;
        p.last_claims.get("preferred_username").and_then(|v| v.as_str()).or(p.name.as_deref())
    }
}

/// The answer to a proxy.
#[derive(Debug)]
pub enum Decision {
    /// The forwarding headers are missing, repeated, contradictory or ambiguous.
    BadRequest(&'static str),
    /// No route for this host and path: refused, never allowed by default.
    NoRoute,
    /// A public path of this route: passes without identity.
    Public(Arc<Route>),
    /// No live session: sign in first (the URL to return to).
    SignIn(String),
    /// Signed in, but the route's policy refuses (the reason, for the log).
    Refused(&'static str),
    /// Signed in and allowed.
    Allowed(Box<Who>, Arc<Route>),
}

/// Decide on the request described by `headers`.
pub async fn decide(state: &AppState, headers: &HeaderMap) -> Result<Decision, AppError> {
    match original(headers) {
        Ok(orig) => decide_for(state, &orig, headers).await,
        Err(reason) => Ok(Decision::BadRequest(reason)),
    }
}

/// Decide on `orig`, with the browser session of `headers` (its cookie).
pub async fn decide_for(state: &AppState, orig: &Original, headers: &HeaderMap) -> Result<Decision, AppError> {
    decide_on(state, orig, state.session_cookie().get_str(headers)).await
}

/// Decide on `orig`, with the browser session `sid` that its session cookie names.
pub async fn decide_on(state: &AppState, orig: &Original, sid: Option<&str>) -> Result<Decision, AppError> {
    let Some(route) = state.proxy.find(&orig.host, orig.path()) else {
        tracing::info!(host = %orig.host, path = %orig.path(), "forward-auth: no route; refused");
        return Ok(Decision::NoRoute);
    };
    if route.is_public(orig.path()) {
        return Ok(Decision::Public(route.clone()));
    }
    // Where sign-in returns to (the site's root when the URL is too long to carry).
    let return_to = || match orig.url() {
        None => Decision::BadRequest("the request URL is not valid"),
        Some(url) if url.len() <= crate::issuer::authorize::param_cap("rd") => Decision::SignIn(url),
        Some(_) => Decision::SignIn(format!("{}://{}/", orig.scheme, orig.host)),
    };
    let Some(sid) = sid else { return Ok(return_to()) };
    // One reading of the clock for the session's expiry, the trust check and the assertion.
    let now_ms = state.clock.now_ms();
    let Some((sid, session)) = state.proxy_sessions.get(state, sid, now_ms).await? else {
        return Ok(return_to());
    };
    let standing = standing_of(state, &session, now_ms).await?;
    let standing = match standing {
        Ok(s) => s,
        Err(lost) => {
            tracing::info!(account = %session.account_id, reason = lost.as_str(), "forward-auth refused; session ended");
            // Boxed, as a rare path: inline, its future would enlarge every request's.
            Box::pin(state.end_session(&sid, &session)).await?;
            return Ok(return_to());
        }
    };
    let who = Who { session: sid, record: session, standing, now_ms };
    if let Some(reason) = refusal(route, &who) {
        tracing::info!(account = %who.account(), host = %orig.host, path = %orig.path(), reason, "forward-auth: the route's policy refuses");
        return Ok(Decision::Refused(reason));
    }
    Ok(Decision::Allowed(Box::new(who), route.clone()))
}

/// The trust check of browser session `session` at `now_ms` (`trust::standing_reused`).
fn standing_of<'a>(
    state: &'a AppState,
    session: &'a BrowserSession,
    now_ms: i64,
) -> impl Future<Output = Result<Result<Arc<crate::trust::Standing>, crate::trust::Lost>, AppError>> + 'a {
    crate::trust::standing_reused(
        state,
        &session.account_id,
        Some(session.identity_id),
        Some(&session.provider_id),
        Some(session.created_at),
        now_ms,
    )
}

/// Why `route` refuses `who` (signed in through its session's provider); every non-empty list
/// must allow.
fn refusal(route: &Route, who: &Who) -> Option<&'static str> {
    if !route.allow_providers.is_empty() && !route.allow_providers.contains(&who.record.provider_id) {
        return Some("provider not allowed");
    }
    if !route.allow_accounts.is_empty() && !route.allow_accounts.iter().any(|a| a == who.account()) {
        return Some("account not allowed");
    }
    if !route.allow_email_domains.is_empty() {
        let domain = who.email().and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| route.allow_email_domains.contains(&d)) {
            return Some("no verified email of an allowed domain");
        }
    }
    None
}

/// Whether browser session `sid` still stands: its record is there, its provider usable, and its
/// identity and account pass the trust check (a session that fails it is ended). A store that
/// cannot answer counts as not standing (fail closed).
pub async fn session_stands(state: &AppState, sid: &str) -> bool {
    let now_ms = state.clock.now_ms();
    let session = match state.proxy_sessions.get(state, sid, now_ms).await {
        Ok(Some((_, s))) => s,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "session re-check failed; counted as ended");
            return false;
        }
    };
    let standing = standing_of(state, &session, now_ms).await;
    match standing {
        Ok(Ok(_)) => true,
        Ok(Err(lost)) => {
            tracing::info!(account = %session.account_id, reason = lost.as_str(), "session ended");
            let _ = state.end_session(sid, &session).await;
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "session re-check failed; counted as ended");
            false
        }
    }
}

/// A header value from text, when it holds no control character.
fn value(s: &str) -> Option<HeaderValue> {
    if s.chars().any(char::is_control) { None } else { HeaderValue::from_bytes(s.as_bytes()).ok() }
}

/// Where a browser without a session goes: `/auth/start` with the URL it asked for.
pub fn start_url(state: &AppState, return_to: &str) -> String {
    crate::issuer::authorize::with_params(
        &format!("{}{}", state.issuer, crate::routes::AUTH_START),
        &[("rd", return_to)],
    )
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The identity headers for `who` at `route`, as one shared list: `X-Auth-Request-User`,
/// `-Email` (when verified), `-Preferred-Username`, `-Idp` and the signed `X-Braid-Assertion`
/// (`iss`, `sub`, `aud`, `iat`, `exp` (60 s), `idp`, `email` when verified). The list is
/// reused while its assertion has at least half its life left (`proxy::assertions`).
pub fn identity_headers(state: &AppState, who: &Who, route: &Route) -> Result<IdentityHeaders, AppError> {
    identity_headers_at(state, who, route, &state.keys.snapshot(), who.checked_at())
}

/// [`identity_headers`] signed with `keys` at `now`.
pub fn identity_headers_at(
    state: &AppState,
    who: &Who,
    route: &Route,
    keys: &crate::issuer::keyring::Keys,
    now: i64,
) -> Result<IdentityHeaders, AppError> {
    // braid keeps a current key of each algorithm; the default one stands in should that fail.
    let key = keys.set.current_for(state.settings.proxy.assertion_algorithm).unwrap_or_else(|| keys.set.current());
    let facts = Facts {
        kid: &key.kid,
        audience: &route.audience,
        account: who.account(),
        idp: who.idp(),
        email: who.email(),
        preferred_username: who.preferred_username(),
    };
    state.assertions.get_or_sign(&facts, now, ASSERTION_TTL_SECS / 2, || {
        let exp = now + ASSERTION_TTL_SECS;
        let mut claims = json!({
            "iss": &*state.issuer, "sub": facts.account, "aud": route.audience,
            "iat": now, "exp": exp, "idp": facts.idp,
        });
        if let (Some(e), Some(o)) = (facts.email, claims.as_object_mut()) {
            o.insert("email".into(), json!(e));
        }
        let token =
            crate::issuer::jwt::sign(key, TYP_ASSERTION, &claims).map_err(|e| AppError::Internal(e.to_string()))?;
        let token = HeaderValue::from_str(&token).map_err(|e| AppError::Internal(e.to_string()))?;
        let headers: Vec<(HeaderName, HeaderValue)> = [
            (USER, Some(facts.account)),
            (EMAIL, facts.email),
            (PREFERRED_USERNAME, facts.preferred_username),
            (IDP, Some(facts.idp)),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.and_then(value).map(|v| (name, v)))
        .chain([(ASSERTION, token)])
        .collect();
        Ok((Arc::new(Identity { headers: headers.into(), exp }), exp))
    })
}

/// The identity headers of an allowed request, shared.
pub type IdentityHeaders = Arc<Identity>;

/// The identity headers, and when their assertion expires.
#[derive(Debug)]
pub struct Identity {
    /// The headers, in order.
    pub headers: Box<[(HeaderName, HeaderValue)]>,
    /// The assertion's `exp`.
    pub exp: i64,
}

/// 400: the request cannot be matched safely.
pub fn bad_request_page(reason: &str) -> Response {
    html::error_page(StatusCode::BAD_REQUEST, "Bad forward-auth request", reason)
}

/// 403: no route for this host and path.
pub fn no_route_page() -> Response {
    html::error_page(
        StatusCode::FORBIDDEN,
        "No access",
        "braid protects no application at this address, so it lets nothing through.",
    )
}

/// 403: signed in, but the route's policy refuses.
pub fn refused_page() -> Response {
    html::error_page(
        StatusCode::FORBIDDEN,
        "No access",
        "You are signed in, but this application does not allow your account. Ask its administrator.",
    )
}

/// No live session: a 302 to `/auth/start` (`redirect`), else a 401 page; both name the
/// sign-in URL in `Location`.
pub fn sign_in_answer(state: &AppState, return_to: &str, redirect: bool) -> Response {
    let to = start_url(state, return_to);
    let mut resp = if redirect {
        StatusCode::FOUND.into_response()
    } else {
        html::error_page(StatusCode::UNAUTHORIZED, "Sign-in required", "Sign in to braid to continue.")
    };
    // On a 401 too: nginx's `auth_request_set` reads it for its `error_page 401` redirect.
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    no_store(resp)
}

async fn answer(state: AppState, headers: HeaderMap, redirect: bool) -> Result<Response, AppError> {
    let resp = match decide(&state, &headers).await? {
        Decision::BadRequest(reason) => bad_request_page(reason),
        Decision::NoRoute => no_route_page(),
        Decision::Public(_) => with_app_cookies(StatusCode::OK.into_response(), &headers),
        Decision::SignIn(return_to) => sign_in_answer(&state, &return_to, redirect),
        Decision::Refused(_) => refused_page(),
        Decision::Allowed(who, route) => {
            let mut resp = with_app_cookies(StatusCode::OK.into_response(), &headers);
            resp.headers_mut().extend(identity_headers(&state, &who, &route)?.headers.iter().cloned());
            resp
        }
    };
    Ok(no_store(resp))
}

/// The header of an allowed answer that carries the request's `Cookie` header without braid's
/// own cookies (every copy of each), for a proxy to send on to the application instead of the
/// browser's (`deploy/nginx-auth-request.conf` does). Absent when no other cookie remains.
pub const APP_COOKIES: &str = "x-braid-app-cookies";

fn with_app_cookies(mut resp: Response, request: &HeaderMap) -> Response {
    if request.contains_key(header::COOKIE) {
        let mut cookies = HeaderMap::new();
        for v in request.get_all(header::COOKIE) {
            cookies.append(header::COOKIE, v.clone());
        }
        super::headers::drop_braid_cookies(&mut cookies);
        if let Some(kept) = cookies.remove(header::COOKIE) {
            resp.headers_mut().insert(APP_COOKIES, kept);
        }
    }
    resp
}

/// `GET /auth/verify`: 200 with identity headers, 401 without a session (with the sign-in URL
/// in `Location`), 403 when no route or the policy refuses.
pub async fn verify_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    answer(state, headers, false).await
}

/// `GET /auth/forward`: as `/auth/verify`, but without a session a 302 to `/auth/start`.
pub async fn forward_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    answer(state, headers, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn a_remembered_host_is_remembered_per_scheme() {
        // Asked twice each, so that the second answers come from the memo.
        for _ in 0..2 {
            assert_eq!(authority_of("https", "Memo.Example:443").unwrap(), "memo.example");
            assert_eq!(authority_of("http", "Memo.Example:443").unwrap(), "memo.example:443");
            assert_eq!(authority_of("http", "Memo.Example:80").unwrap(), "memo.example");
            assert_eq!(authority_of("https", "Memo.Example:80").unwrap(), "memo.example:80");
            assert!(authority_of("https", "memo.example/x").is_err());
        }
    }

    #[test]
    fn the_original_request_comes_from_either_header_set() {
        let o = original(&h(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "App.Example:443"),
            ("x-forwarded-uri", "/a/../b?x=1"),
        ]))
        .unwrap();
        assert_eq!((o.scheme, &*o.host, o.path()), ("https", "app.example", "/b"));
        assert_eq!(o.url().as_deref(), Some("https://app.example/b?x=1"));
        let o = original(&h(&[("x-original-url", "http://127.0.0.1:8081/p/q?x=1")])).unwrap();
        assert_eq!((o.scheme, &*o.host, o.path()), ("http", "127.0.0.1:8081", "/p/q"));
        let both = original(&h(&[
            ("x-original-url", "http://127.0.0.1:8081/p"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "127.0.0.1:8081"),
            ("x-forwarded-uri", "/p"),
        ]));
        assert!(both.is_ok());
    }

    #[test]
    fn missing_repeated_contradictory_or_ambiguous_headers_are_refused() {
        for bad in [
            h(&[]),
            h(&[("x-forwarded-host", "a.example")]),
            h(&[("x-forwarded-uri", "/")]),
            h(&[("x-forwarded-host", "a.example"), ("x-forwarded-host", "b.example"), ("x-forwarded-uri", "/")]),
            h(&[("x-forwarded-host", "a.example,b.example"), ("x-forwarded-uri", "/")]),
            h(&[("x-forwarded-host", "a.example"), ("x-forwarded-uri", "/x%2Fy")]),
            h(&[("x-forwarded-host", "a.example"), ("x-forwarded-uri", "/"), ("x-forwarded-proto", "ftp")]),
            h(&[("x-original-url", "http://a.example/"), ("x-forwarded-host", "b.example")]),
            h(&[("x-original-url", "http://a.example/public"), ("x-forwarded-uri", "/admin")]),
            h(&[("x-original-url", "http://a.example/"), ("x-forwarded-proto", "https")]),
            h(&[("x-original-url", "//a.example/")]),
            h(&[("x-original-url", "http://u@a.example/")]),
        ] {
            assert!(original(&bad).is_err(), "{bad:?}");
        }
    }
}
