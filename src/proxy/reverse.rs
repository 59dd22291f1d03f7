//! braid's own reverse proxy. A request whose `Host` names a route with an `upstream` is taken
//! at the edge, before braid's router, and goes through the same decision as `/auth/verify`
//! (route, public paths, session re-checked, policy). Allowed, it is passed to the upstream
//! over a pooled HTTP/1.1 connection (`upstream`) with the identity headers, `X-Forwarded-For/Proto/Host`, the client's
//! claims and braid's cookies removed and the hop-by-hop headers dropped (the upstream may not
//! set braid's cookies either); bodies stream both
//! ways and WebSocket upgrades are joined end to end. Refused: a 302 to sign in for a browser's
//! navigation, 401 for any other request, 403 for a policy refusal; an upstream that refuses
//! the connection gives a 502 page, one that does not answer in time a 504 page.
//!
//! braid's own host (that of `public_url`) is never proxied: its requests reach braid's pages.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tracing::Instrument;

use super::bodies::{Reply, Upload};
use super::forward::{self, Decision, Original};
use super::headers;
use super::recall::Recall;
use super::timeouts::{Activity, Idle, Silent};
use super::upstream::{Failed, Upstreams};
use crate::state::AppState;
use crate::web::html;

/// braid's proxy: the shared state, the upstream client and the hosts it serves.
pub struct ReverseProxy {
    state: AppState,
    /// The upstreams' connections (http and https); `None` when the TLS settings could not be
    /// built (checked at startup): then every proxied request gets a 502 page, none goes
    /// unverified.
    upstreams: Option<Upstreams>,
    /// `http` or `https`: the scheme of braid's public URL, which the browser uses for the
    /// proxied hosts too (the same listener, behind the same TLS terminator).
    scheme: &'static str,
    /// braid's own host: never proxied.
    own: Option<String>,
    /// Whether any route has an upstream (else no request is proxied).
    active: bool,
    /// The proxies in front of braid whose `X-Forwarded-For` is believed (`[server]
    /// trusted_proxies`), read once: the upstream is told the client address resolved through them.
    trusted: Vec<crate::web::client_ip::Net>,
}

impl ReverseProxy {
    /// The proxy over `state`'s routes and settings.
    pub fn new(state: AppState) -> Self {
        let timeout = Duration::from_secs(state.settings.proxy.upstream_timeout_secs);
        let upstreams = match super::tls::connector(timeout, state.settings.proxy.upstream_ca_file.as_deref()) {
            Ok(connector) => Some(Upstreams::new(connector, &state.proxy)),
            Err(e) => {
                tracing::error!(error = %e, "braid's proxy cannot reach https upstreams; proxied requests get 502");
                None
            }
        };
        let scheme = if state.issuer.starts_with("https://") { "https" } else { "http" };
        let own = super::table::own_authority(&state.issuer);
        let active = state.proxy.proxies_any();
        let trusted = crate::web::client_ip::trusted(&state);
        Self { state, upstreams, scheme, own, active, trusted }
    }

    /// The normalised host of `req` when braid's proxy serves it (remembered by the
    /// connection's `recall` for the host as sent).
    fn proxied_host<B>(&self, req: &Request<B>, recall: &Recall) -> Option<Arc<str>> {
        if !self.active {
            return None;
        }
        let raw = match req.uri().authority() {
            Some(a) => a.as_str(),
            None => req.headers().get(header::HOST)?.to_str().ok()?,
        };
        recall.host(raw, |raw| {
            let host = forward::authority_of(self.scheme, raw).ok()?;
            (self.own.as_deref() != Some(host.as_str()) && self.state.proxy.proxies(&host)).then(|| host.into())
        })
    }
}

/// braid's whole HTTP service: a request for a proxied host goes to the upstream; every other
/// request reaches braid's router. A plain service rather than a middleware and an outer router,
/// which cost every request (braid's own pages too) two boxed futures and a second routing.
/// Each connection gets its own ([`Dispatch::for_peer`]).
#[derive(Clone)]
pub struct Dispatch {
    proxy: Arc<ReverseProxy>,
    own: axum::Router,
}

/// [`Dispatch`] for one connection (`crate::serve`), knowing its peer: braid's pages read it as
/// the `ConnectInfo` extension; the proxy takes it as it is, sparing each proxied request the
/// extension map's allocations. `P` is the proxy's future ([`proxy_request`]'s, named through
/// the function pointer `serve`): it sits in the connection's task, where a boxed future would
/// cost every proxied request an allocation and a copy.
pub struct ConnectionDispatch<P> {
    proxy: Arc<ReverseProxy>,
    own: axum::Router,
    peer: Arc<Peer>,
    serve: ServeFn<P>,
}

/// [`proxy_request`]'s signature, with its future `P`.
type ServeFn<P> = fn(Arc<ReverseProxy>, Arc<str>, Request<Incoming>, Arc<Peer>) -> P;

/// A connection's peer, with its `X-Forwarded-For` value written once for all the proxied
/// requests it sends (most clients are their connection's peer), and what the connection keeps
/// for its proxied requests, which come one after another.
struct Peer {
    addr: SocketAddr,
    forwarded_for: Option<HeaderValue>,
    /// The upstream timer its proxied requests use in turn.
    timer: super::timeouts::ConnectionTimer,
    /// Its last request's cookie and identity headers (`proxy::recall`).
    recall: Recall,
}

impl Dispatch {
    /// The proxy in front of braid's own router.
    pub fn new(proxy: ReverseProxy, own: axum::Router) -> Self {
        Self { proxy: Arc::new(proxy), own }
    }

    /// The service for a connection from `addr`.
    pub fn for_peer(
        &self,
        addr: SocketAddr,
    ) -> ConnectionDispatch<impl Future<Output = axum::http::Response<Reply>> + Send + 'static> {
        // Written only where something may be proxied.
        let forwarded_for = self.proxy.upstreams.as_ref().and_then(|_| forwarded_for(addr.ip()));
        let peer = Arc::new(Peer { addr, forwarded_for, timer: Default::default(), recall: Recall::default() });
        ConnectionDispatch { proxy: self.proxy.clone(), own: self.own.clone(), peer, serve: proxy_request }
    }
}

impl<P> hyper::service::Service<Request<Incoming>> for ConnectionDispatch<P>
where
    P: Future<Output = axum::http::Response<Reply>>,
{
    type Response = axum::http::Response<Reply>;
    type Error = std::convert::Infallible;
    type Future = DispatchFuture<P>;

    fn call(&self, req: Request<Incoming>) -> DispatchFuture<P> {
        match self.proxy.proxied_host(&req, &self.peer.recall) {
            None => {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(self.peer.addr));
                // braid's router is always ready; a clone of it is a reference count.
                DispatchFuture::Own { inner: tower_service::Service::call(&mut self.own.clone(), req) }
            }
            Some(host) => {
                DispatchFuture::Proxy { inner: (self.serve)(self.proxy.clone(), host, req, self.peer.clone()) }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ConnectionDispatch`].
    #[project = DispatchProj]
    pub enum DispatchFuture<P> {
        /// braid's own router.
        Own { #[pin] inner: axum::routing::future::RouteFuture<std::convert::Infallible> },
        /// The proxy's task.
        Proxy { #[pin] inner: P },
    }
}

impl<P: Future<Output = axum::http::Response<Reply>>> Future for DispatchFuture<P> {
    type Output = Result<axum::http::Response<Reply>, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DispatchProj::Own { inner } => inner.poll(cx).map(|r| r.map(|resp| resp.map(Reply::Own))),
            DispatchProj::Proxy { inner } => inner.poll(cx).map(Ok),
        }
    }
}

/// Serve a request for a proxied host, and time it as `proxy`. It runs in the connection's task
/// (braid's pages each get a task of their own, so that a client that leaves cannot stop a SQL
/// transaction halfway): the proxy's decision writes no SQL, and a client that leaves while it
/// is under way stops nothing that matters (a session found ended and not yet deleted is found
/// ended again at its next request). A panic gives an opaque 500, as on braid's pages.
///
/// [`serve`] returns an `async move` block rather than being an `async fn`, which keeps each
/// argument twice in its future (as passed and as moved into its body); the future that times it
/// ([`Answered`]) is a struct of its own, since an `async` block awaiting it would hold it twice
/// too (as captured and as awaited). This future is made, and moved, for every proxied request.
fn proxy_request(
    proxy: Arc<ReverseProxy>,
    host: Arc<str>,
    req: Request<Incoming>,
    peer: Arc<Peer>,
) -> impl Future<Output = axum::http::Response<Reply>> + Send {
    let start = std::time::Instant::now();
    let span = tracing::info_span!("proxy", %host, method = %req.method(), path = %req.uri().path());
    let metrics = proxy.state.metrics.is_some();
    let served = std::panic::AssertUnwindSafe(serve(proxy, host, req, peer).instrument(span)).catch_unwind();
    Answered { served, start, metrics }
}

pin_project_lite::pin_project! {
    /// A proxied request's answer, a page of braid's own for a refusal (or an opaque 500 for a
    /// panic), timed as `proxy` for the metrics.
    struct Answered<F> {
        #[pin]
        served: F,
        start: std::time::Instant,
        metrics: bool,
    }
}

impl<F> Future for Answered<F>
where
    F: Future<Output = std::thread::Result<Result<axum::http::Response<Reply>, Response>>>,
{
    type Output = axum::http::Response<Reply>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = match std::task::ready!(this.served.poll(cx)) {
            Ok(answer) => answer.unwrap_or_else(|page| own_page(page).map(Reply::Own)),
            Err(_) => own_page(
                crate::error::AppError::Internal("the proxy's request handler panicked".into()).into_response(),
            )
            .map(Reply::Own),
        };
        if *this.metrics {
            crate::metrics::http::record_proxy(resp.status(), this.start.elapsed().as_secs_f64());
        }
        Poll::Ready(resp)
    }
}

/// A page of braid's own (not the upstream's): with braid's `nosniff`.
fn own_page(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Whether `req` is a browser's top-level navigation, which may be redirected to sign in: a GET
/// that accepts HTML, is not a script's (`X-Requested-With`) and, when the browser says what
/// kind of fetch it is (`Sec-Fetch-Mode`), is a navigation.
fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    let html = headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("text/html")));
    let mode = headers.get("sec-fetch-mode").map(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"));
    *method == Method::GET && html && !headers.contains_key("x-requested-with") && mode != Some(false)
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What braid adds to the `Via` of each message it passes on (RFC 9110 §7.6.3).
const VIA: HeaderValue = HeaderValue::from_static("1.1 braid");

/// Decide on `req` and, when it may pass, send it to its route's upstream. `Err` is a page of
/// braid's own.
#[expect(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice")]
fn serve(
    proxy: Arc<ReverseProxy>,
    host: Arc<str>,
    req: Request<Incoming>,
    peer: Arc<Peer>,
) -> impl Future<Output = Result<axum::http::Response<Reply>, Response>> + Send {
    async move {
        let proxy = &*proxy;
        let state = &proxy.state;
        // What only the decision and the rewriting need is dropped before the upstream is
        // awaited: each request's future holds less (and is copied, when moved, in full).
        let Prepared { req, route, session, client_upgrade } = prepare(proxy, host, req, &peer).await?;
        let Some(upstream) = route.upstream.as_ref() else {
            return Err(forward::no_route_page());
        };
        // The upstream's time runs from here, after braid's own work on the request.
        let activity = Arc::new(Activity::new());
        let req = req.map(|body| Upload::of(body, &activity));
        let Some(upstreams) = proxy.upstreams.as_ref() else {
            return Err(html::error_page(
                StatusCode::BAD_GATEWAY,
                "The application is not answering",
                "braid's proxy is not configured to reach this application (see its log).",
            ));
        };
        let sent = upstreams.send(&route, req, activity.clone());
        let timeout = route.timeout;
        let mut resp = match activity.wait(sent, timeout, &peer.timer).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let connect = matches!(e, Failed::Connect(_));
                tracing::warn!(upstream = %upstream, error = %e, connect, "upstream failed");
                return Err(html::error_page(
                    StatusCode::BAD_GATEWAY,
                    "The application is not answering",
                    "braid could not reach the application behind this address. Try again in a moment.",
                ));
            }
            Err(Silent) => {
                tracing::warn!(upstream = %upstream, timeout_secs = timeout.as_secs(), "upstream timed out");
                return Err(html::error_page(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The application did not answer in time",
                    "The application behind this address took too long to answer. Try again in a moment.",
                ));
            }
        };
        let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        let upstream_upgrade = headers::scrub_response(resp.headers_mut(), switched);
        resp.headers_mut().append(header::VIA, VIA);
        if switched {
            let (Some(client), Some(_)) = (client_upgrade, upstream_upgrade) else {
                tracing::warn!(upstream = %upstream, "upstream switched protocols unasked");
                return Err(html::error_page(
                    StatusCode::BAD_GATEWAY,
                    "The application answered wrongly",
                    "The application switched protocols without being asked.",
                ));
            };
            let server = hyper::upgrade::on(&mut resp);
            let watch = session.map(|sid| (state.clone(), sid));
            tokio::spawn(join(client, server, watch).in_current_span());
            return Ok(resp.map(|_| Reply::Own(Body::empty())));
        }
        Ok(resp.map(|b| Reply::Upstream(Idle::new(b, timeout))))
    }
}

/// The decision on `req` and, when it may pass, `req` made fit for its route's upstream: with
/// its route, its session (when it needed one) and the client's side of an upgrade it asks for.
/// `Err` is a page of braid's own.
#[expect(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice")]
fn prepare<'a>(
    proxy: &'a ReverseProxy,
    host: Arc<str>,
    mut req: Request<Incoming>,
    peer: &'a Peer,
) -> impl Future<Output = Result<Prepared, Response>> + Send + 'a {
    async move {
        let state = &proxy.state;
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let orig = forward::original_of(proxy.scheme, host, target).map_err(forward::bad_request_page)?;
        let recall = &peer.recall;
        let cookie = recall.cookie(state, req.headers());
        let decision =
            forward::decide_on(state, &orig, cookie.sid.as_deref()).await.map_err(IntoResponse::into_response)?;
        let (route, identity, session) = match decision {
            Decision::BadRequest(reason) => return Err(forward::bad_request_page(reason)),
            Decision::NoRoute => return Err(forward::no_route_page()),
            Decision::Refused(_) => return Err(forward::refused_page()),
            Decision::SignIn(return_to) => {
                let navigation = is_navigation(req.method(), req.headers());
                return Err(forward::sign_in_answer(state, &return_to, navigation));
            }
            Decision::Public(route) => (route, None, None),
            Decision::Allowed(who, route) => {
                let identity = recall.identity(state, &who, &route).map_err(IntoResponse::into_response)?;
                (route, Some(identity), Some(who.session))
            }
        };
        let Some(upstream) = route.upstream.as_ref() else {
            return Err(forward::no_route_page());
        };
        let uri = upstream_uri(upstream, &orig, req.uri())
            .ok_or_else(|| forward::bad_request_page("the request URL cannot be passed on"))?;
        // The client's address as braid resolves it: through the trusted proxies' `X-Forwarded-For`,
        // before the client's own copies of it are dropped.
        let client = crate::web::client_ip::resolve(Some(peer.addr.ip()), req.headers(), &proxy.trusted);
        let client_forwarded_for = match client {
            Some(ip) if ip == peer.addr.ip() => peer.forwarded_for.clone(),
            ip => ip.and_then(forwarded_for),
        };
        let mut hops = headers::hops_of(req.headers());
        if req.method() != Method::GET {
            hops.upgrade = None;
        }
        let client_upgrade = hops.upgrade.is_some().then(|| hyper::upgrade::on(&mut req));

        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        req.extensions_mut().clear();
        let h = req.headers_mut();
        // Room for what braid adds, at once rather than by growing the map as it goes.
        h.reserve(10);
        headers::scrub_request(h, hops, cookie.upstream);
        if let Some(ip) = client_forwarded_for {
            h.insert(X_FORWARDED_FOR, ip);
        }
        h.append(header::VIA, VIA);
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proxy.scheme));
        // The route's host is the request's (normalised): a copy of its value costs a reference count.
        h.insert(X_FORWARDED_HOST, route.host_header.clone());
        // The upstream sees the host whose policy was applied, never a second or different `Host`
        // the client sent beside an absolute-form request line.
        h.insert(header::HOST, route.host_header.clone());
        if let Some(identity) = identity {
            h.extend(identity.headers.iter().cloned());
        }
        Ok(Prepared { req, route, session, client_upgrade })
    }
}

/// What [`prepare`] gives.
struct Prepared {
    /// The request as the upstream gets it.
    req: Request<Incoming>,
    route: Arc<super::table::Route>,
    /// The browser session, when the route needed one (a proxied WebSocket watches it).
    session: Option<Arc<str>>,
    /// The client's side of the upgrade it asks for.
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
}

/// `X-Forwarded-For`'s value for the client's address (an IPv4 address written by hand: the
/// formatter costs more than the rest of the header rewriting).
fn forwarded_for(ip: std::net::IpAddr) -> Option<HeaderValue> {
    let std::net::IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).ok();
    };
    let mut text = [0u8; 15];
    let mut n = 0;
    for (i, o) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[n] = b'.';
            n += 1;
        }
        for (digit, from) in [(o / 100, 100), (o / 10 % 10, 10), (o % 10, 0)] {
            if o >= from {
                text[n] = b'0' + digit;
                n += 1;
            }
        }
    }
    HeaderValue::from_bytes(&text[..n]).ok()
}

/// The upstream request target of `orig` (origin form: the connection is to the upstream's
/// origin): the upstream's path, then the normalised path braid matched (so the application
/// reads the path braid checked) and the query as `sent`. When that is the target as sent (no
/// upstream path, a path already normal), the sent one is reused: a reference count, no parse.
fn upstream_uri(upstream: &url::Url, orig: &Original, sent: &Uri) -> Option<Uri> {
    let base = upstream.path().trim_end_matches('/');
    if let Some(target) = sent.path_and_query().filter(|t| base.is_empty() && t.path() == orig.path()) {
        if target.as_str().starts_with('/') {
            let mut parts = axum::http::uri::Parts::default();
            parts.path_and_query = Some(target.clone());
            return Uri::from_parts(parts).ok();
        }
    }
    let query = sent.query();
    let mut uri = String::with_capacity(base.len() + orig.path().len() + query.map_or(0, |q| q.len() + 1));
    for part in [base, orig.path()] {
        uri.push_str(part);
    }
    if let Some(query) = query {
        uri.push('?');
        uri.push_str(query);
    }
    Uri::try_from(uri).ok()
}

/// How often an upgraded connection (a WebSocket) that needed sign-in re-checks its session;
/// when the session has ended, braid closes both sides.
pub const UPGRADED_RECHECK: Duration = Duration::from_secs(2);

/// Copy bytes both ways between the client's and the upstream's upgraded connections, until
/// either side closes or, when `watch` names a session, that session ends.
async fn join(
    client: hyper::upgrade::OnUpgrade,
    server: hyper::upgrade::OnUpgrade,
    watch: Option<(AppState, Arc<str>)>,
) {
    let (client, server) = match (client.await, server.await) {
        (Ok(c), Ok(s)) => (c, s),
        (c, s) => {
            tracing::info!(client = c.is_ok(), upstream = s.is_ok(), "upgrade not completed");
            return;
        }
    };
    let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
    let copied = tokio::io::copy_bidirectional(&mut client, &mut server);
    let ended = async {
        match &watch {
            Some((state, sid)) => loop {
                tokio::time::sleep(UPGRADED_RECHECK).await;
                if !forward::session_stands(state, sid).await {
                    break;
                }
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = copied => match result {
            Ok((up, down)) => tracing::debug!(up, down, "upgraded connection closed"),
            Err(e) => tracing::debug!(error = %e, "upgraded connection ended"),
        },
        () = ended => tracing::info!("upgraded connection closed: its session ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_browsers_html_navigation_is_one() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(*k, HeaderValue::from_static(v));
            }
            m
        };
        let page = h(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(is_navigation(&Method::GET, &page));
        assert!(!is_navigation(&Method::HEAD, &page), "a browser never navigates with HEAD");
        let navigate = h(&[("accept", "text/html"), ("sec-fetch-mode", "navigate")]);
        assert!(is_navigation(&Method::GET, &navigate));
        let fetched = h(&[("accept", "text/html"), ("sec-fetch-mode", "cors")]);
        assert!(!is_navigation(&Method::GET, &fetched), "a script's fetch that accepts HTML");
        assert!(!is_navigation(&Method::POST, &page));
        assert!(!is_navigation(&Method::GET, &h(&[("accept", "application/json")])));
        assert!(!is_navigation(&Method::GET, &h(&[("accept", "*/*")])));
        assert!(!is_navigation(&Method::GET, &h(&[])));
        assert!(!is_navigation(&Method::GET, &h(&[("accept", "text/html"), ("x-requested-with", "XMLHttpRequest")])));
    }

    #[test]
    fn forwarded_for_writes_the_address_as_the_formatter_does() {
        for ip in
            ["0.0.0.0", "127.0.0.1", "10.9.99.100", "255.255.255.255", "1.20.109.200", "::1", "2001:db8::ff00:42:8329"]
        {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(forwarded_for(ip).unwrap(), ip.to_string(), "{ip}");
        }
    }

    #[test]
    fn the_upstream_url_joins_the_upstreams_path_and_the_checked_path() {
        let sent: Uri = "/a/../b//c?x=1".parse().unwrap();
        let orig = forward::original_of("https", "app.test".into(), sent.to_string()).unwrap();
        let up = url::Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(upstream_uri(&up, &orig, &sent).unwrap(), "/b/c?x=1");
        let base = url::Url::parse("http://10.0.0.1:9000/base/").unwrap();
        assert_eq!(upstream_uri(&base, &orig, &sent).unwrap(), "/base/b/c?x=1");
        // A target already normal is passed on as sent, absolute form included.
        for sent in ["/b/c?x=1", "/b/c", "http://app.test/b/c?x=1", "/", "/a%20b?q=%20"] {
            let sent: Uri = sent.parse().unwrap();
            let target = sent.path_and_query().unwrap().as_str().to_owned();
            let orig = forward::original_of("https", "app.test".into(), target.clone()).unwrap();
            let uri = upstream_uri(&up, &orig, &sent).unwrap();
            assert_eq!(uri, target.as_str(), "{sent}");
            assert!(uri.authority().is_none() && uri.scheme().is_none(), "origin form: {uri}");
            assert_eq!(upstream_uri(&base, &orig, &sent).unwrap(), format!("/base{target}").as_str(), "{sent}");
        }
    }
}
