//! The route table: `[[routes]]` checked and normalised once, the route of a request found by
//! host and longest path prefix, request paths put in one normal form before any prefix is
//! compared, the hosts braid's own proxy serves, and the allow-list of return addresses (`rd`).

use url::Url;

use crate::config::{ProxySettings, RouteSettings};

/// One protected application, as checked at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Normalised authority: lower-case host, with a port only when it is not the default.
    pub host: String,
    /// `host` as a header value: the `Host` and `X-Forwarded-Host` braid's proxy sends (a
    /// request reaches a route only when its normalised host is this one).
    pub host_header: axum::http::HeaderValue,
    /// Normalised path prefix.
    pub path_prefix: String,
    /// Where braid's own proxy sends the requests (an http URL; forward-auth routes have none).
    pub upstream: Option<Url>,
    /// Paths served without sign-in (normalised).
    pub public_paths: Vec<String>,
    /// Allowed provider ids (empty: any).
    pub allow_providers: Vec<String>,
    /// Allowed domains of the primary verified email, lower case (empty: any).
    pub allow_email_domains: Vec<String>,
    /// Allowed account ids (empty: any).
    pub allow_accounts: Vec<String>,
    /// `aud` of the assertion.
    pub audience: String,
    /// How long its upstream may be silent (the route's own, else `[proxy]`'s).
    pub timeout: std::time::Duration,
}

impl Route {
    /// Whether `path` (normalised) is served without sign-in.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.iter().any(|p| under(path, p))
    }
}

/// Every route, and the extra hosts a return address may name.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<std::sync::Arc<Route>>,
    redirect_hosts: Vec<String>,
}

impl RouteTable {
    /// Build the table from settings already checked by [`check`]; a value that does not pass
    /// is an error naming its key. `public_url` is braid's own (its host is never proxied).
    pub fn build(routes: &[RouteSettings], proxy: &ProxySettings, public_url: &str) -> Result<Self, String> {
        if let Some((key, reason)) = check(routes, proxy, public_url).into_iter().next() {
            return Err(format!("key `{key}`: {reason}"));
        }
        let routes = routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let host = r.host.to_ascii_lowercase();
                let host_header = axum::http::HeaderValue::from_str(&host)
                    .map_err(|_| format!("key `routes[{i}].host`: `{host}` cannot be sent as a header"))?;
                Ok(std::sync::Arc::new(Route {
                    audience: r.audience.clone().unwrap_or_else(|| default_audience(&host)),
                    host,
                    host_header,
                    path_prefix: r.path_prefix.clone(),
                    upstream: r.upstream.as_deref().and_then(|u| Url::parse(u).ok()),
                    public_paths: r.public_paths.clone(),
                    allow_providers: r.allow_providers.clone(),
                    allow_email_domains: r.allow_email_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                    allow_accounts: r.allow_accounts.clone(),
                    timeout: std::time::Duration::from_secs(
                        r.upstream_timeout_secs.unwrap_or(proxy.upstream_timeout_secs),
                    ),
                }))
            })
            .collect::<Result<_, String>>()?;
        let redirect_hosts = proxy.redirect_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        Ok(Self { routes, redirect_hosts })
    }

    /// Whether no route is configured.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, in the order of the settings.
    pub fn routes(&self) -> &[std::sync::Arc<Route>] {
        &self.routes
    }

    /// Whether braid's own proxy serves any host.
    pub fn proxies_any(&self) -> bool {
        self.routes.iter().any(|r| r.upstream.is_some())
    }

    /// Whether braid's own proxy serves `host` (normalised authority): its routes have an
    /// `upstream` (a host's routes all have one or none, see [`check`]).
    pub fn proxies(&self, host: &str) -> bool {
        self.routes.iter().any(|r| r.host == host && r.upstream.is_some())
    }

    /// The route of `host` (normalised authority) whose prefix is the longest one `path`
    /// (normalised) is under. A prefix written with a trailing slash (`/admin/`) also covers the
    /// bare path (`/admin`), which applications serve as the same page: it must never fall to a
    /// shorter prefix's laxer policy. No route: the request is refused, never allowed by
    /// default.
    pub fn find(&self, host: &str, path: &str) -> Option<&std::sync::Arc<Route>> {
        let covers = |prefix: &str| under(path, prefix) || (prefix.len() > 1 && path == prefix.trim_end_matches('/'));
        self.routes.iter().filter(|r| r.host == host && covers(&r.path_prefix)).max_by_key(|r| r.path_prefix.len())
    }

    /// `rd` as a URL braid may send the browser to: an absolute http(s) URL without userinfo,
    /// whitespace, control characters or backslashes, whose host (and port) is a route's or one
    /// of `[proxy] redirect_hosts`. Anything else is refused, with the reason.
    pub fn return_address(&self, rd: &str) -> Result<Url, &'static str> {
        if rd.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || !b.is_ascii()) {
            return Err("it holds spaces, control characters, backslashes or non-ASCII characters");
        }
        let lower = rd.get(..8).unwrap_or(rd).to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err("it is not an absolute http(s) URL");
        }
        let url = Url::parse(rd).map_err(|_| "it is not a valid URL")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it carries a user name or password");
        }
        let host = authority(&url).ok_or("it has no host")?;
        if self.routes.iter().any(|r| r.host == host) || self.redirect_hosts.contains(&host) {
            Ok(url)
        } else {
            Err("its host is not one of braid's routes or [proxy] redirect_hosts")
        }
    }
}

/// The origin of a route's host: `https://host`, or `http://host` on a loopback address (where
/// development runs over http, as braid's own `public_url` may).
fn default_audience(host: &str) -> String {
    let loopback = Url::parse(&format!("http://{host}/")).is_ok_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    });
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

/// The authority of `url` as routes name it: lower-case host, `:port` only when not the
/// scheme's default (the URL parser already drops a default port).
pub fn authority(url: &Url) -> Option<String> {
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// Whether normalised `path` is `prefix` or below it, on whole segments (`/app` covers `/app`
/// and `/app/x`, never `/apple`; `/app/` covers what starts with `/app/`).
pub fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix) && (prefix.ends_with('/') || path.as_bytes().get(prefix.len()) == Some(&b'/')))
}

/// Why a request path cannot be matched safely.
pub const AMBIGUOUS_PATH: &str =
    "the path must start with `/` and hold no encoded `/` or `\\`, backslash, control character or bad escape";

/// The path in the form routes are matched on: percent-escapes of unreserved characters
/// decoded, other escapes upper-cased, `.` and `..` segments resolved, repeated slashes
/// merged. `None` when the path is ambiguous (an encoded `/` or `\`, a backslash, a control
/// character, a bad escape, no leading `/`): an application could read it otherwise than braid.
pub fn normalize_path(raw: &str) -> Option<String> {
    normalized(raw).map(std::borrow::Cow::into_owned)
}

/// [`normalize_path`], borrowing `raw` when it is its own normal form (as most paths are).
pub fn normalized(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    if is_normal(raw) {
        Some(std::borrow::Cow::Borrowed(raw))
    } else {
        normalize_slowly(raw).map(std::borrow::Cow::Owned)
    }
}

/// Whether `raw` is its own normal form, as most paths are: printable ASCII without `%` or a
/// character the normaliser refuses, and no empty, `.` or `..` segment (but for an empty last
/// one, the trailing slash).
fn is_normal(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let plain = |c: u8| c.is_ascii_graphic() && !matches!(c, b'%' | b'\\' | b'?' | b'#' | b';');
    // One pass: each segment ends at a `/` or at the end (only the last may be empty).
    let mut start = 1;
    for i in 1..=b.len() {
        match b.get(i) {
            Some(b'/') | None => {
                let segment = &b[start..i];
                let last = i == b.len();
                if segment == b"." || segment == b".." || (segment.is_empty() && !last) {
                    return false;
                }
                start = i + 1;
            }
            Some(c) if !plain(*c) => return false,
            Some(_) => {}
        }
    }
    true
}

/// [`normalize_path`] worked out in full.
fn normalize_slowly(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let mut decoded = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        // `;` starts path parameters that Java servers strip per segment (`/public/..;/admin`):
        // braid would match one path and the application serve another.
        if c.is_control() || matches!(c, '\\' | ' ' | '?' | '#' | ';') {
            return None;
        }
        if c != '%' {
            decoded.push(c);
            continue;
        }
        let hex = raw.get(i + 1..i + 3)?;
        let v = u8::from_str_radix(hex, 16).ok()?;
        if v.is_ascii_control() || v == b'/' || v == b'\\' {
            return None;
        }
        if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
            decoded.push(char::from(v));
        } else {
            decoded.push('%');
            decoded.push_str(&hex.to_ascii_uppercase());
        }
        chars.nth(1);
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (n, seg) in segments.iter().enumerate() {
        match *seg {
            "" | "." => trailing = n == last,
            ".." => {
                out.pop();
                trailing = n == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing && path != "/" {
        path.push('/');
    }
    Some(path)
}

/// A host as written in the settings, checked: a DNS name or IP address with an optional port,
/// in the form the URL parser gives it.
fn check_host(h: &str) -> Result<(), String> {
    let shape = "must be a host name with an optional port, like app.example.com or app.example.com:8443";
    if h.is_empty() || h.contains(['/', '@', '?', '#', '*', ' ']) || h.starts_with('.') {
        return Err(format!("`{h}` {shape} (no scheme, path or wildcard)"));
    }
    let url = Url::parse(&format!("https://{h}/")).map_err(|_| format!("`{h}` {shape}"))?;
    let written = h.to_ascii_lowercase();
    let https = authority(&url).ok_or_else(|| format!("`{h}` {shape}"))?;
    let http = Url::parse(&format!("http://{h}/")).ok().and_then(|u| authority(&u));
    if https != written || http.as_deref() != Some(written.as_str()) {
        return Err(format!(
            "`{h}` {shape}; write it as the browser sends it in `Host` (a default port such as :80 or :443 is left out, \
             international names in their xn-- form)"
        ));
    }
    if let Some(url::Host::Domain(d)) = url.host() {
        if !d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
            return Err(format!("`{h}` {shape}"));
        }
    }
    Ok(())
}

fn check_path(p: &str) -> Result<(), String> {
    match normalize_path(p) {
        Some(n) if n == p => Ok(()),
        Some(n) => Err(format!("`{p}` must be written in normal form: `{n}`")),
        None => Err(format!("`{p}` is not a path: {AMBIGUOUS_PATH}")),
    }
}

/// The authority of braid's own `public_url`, as routes name hosts.
pub fn own_authority(public_url: &str) -> Option<String> {
    Url::parse(public_url).ok().as_ref().and_then(authority)
}

/// Check `[[routes]]` and `[proxy]`; each problem is (key, reason). `public_url` is braid's own:
/// a route with an `upstream` may not name its host (braid's pages are never proxied).
pub fn check(routes: &[RouteSettings], proxy: &ProxySettings, public_url: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let own = own_authority(public_url);
    let mut bad = |key: String, reason: String| problems.push((key, reason));
    let mut seen: Vec<(String, &str, usize)> = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        if let Err(reason) = check_host(&r.host) {
            bad(format!("routes[{i}].host"), reason);
        }
        if let Err(reason) = check_path(&r.path_prefix) {
            bad(format!("routes[{i}].path_prefix"), reason);
        }
        let host = r.host.to_ascii_lowercase();
        if let Some((_, _, j)) = seen.iter().find(|(h, p, _)| *h == host && *p == r.path_prefix) {
            bad(
                format!("routes[{i}].path_prefix"),
                format!("host `{}` with path_prefix `{}` is already routes[{j}]", r.host, r.path_prefix),
            );
        }
        seen.push((host, &r.path_prefix, i));
        if let Some(u) = &r.upstream {
            match Url::parse(u) {
                Ok(p)
                    if (p.scheme() == "http" || p.scheme() == "https")
                        && p.host().is_some()
                        && p.username().is_empty()
                        && p.password().is_none()
                        && p.query().is_none()
                        && p.fragment().is_none() => {}
                _ => bad(
                    format!("routes[{i}].upstream"),
                    format!(
                        "`{u}` must be an http(s) URL like http://127.0.0.1:9000 (no user name, query or fragment)"
                    ),
                ),
            }
            if own.as_deref() == Some(r.host.to_ascii_lowercase().as_str()) {
                bad(
                    format!("routes[{i}].host"),
                    format!(
                        "`{}` is braid's own host (public_url); braid serves its own pages there and never proxies it",
                        r.host
                    ),
                );
            }
        }
        let mixed = routes
            .iter()
            .take(i)
            .position(|o| o.host.eq_ignore_ascii_case(&r.host) && o.upstream.is_some() != r.upstream.is_some());
        if let Some(j) = mixed {
            bad(
                format!("routes[{i}].upstream"),
                format!(
                    "host `{}` has routes with and without `upstream` (routes[{j}]); braid's proxy serves a whole host, \
                     so give each of its routes an upstream, or none for forward-auth",
                    r.host
                ),
            );
        }
        for (j, p) in r.public_paths.iter().enumerate() {
            match check_path(p) {
                Err(reason) => bad(format!("routes[{i}].public_paths[{j}]"), reason),
                Ok(()) if !under(p, &r.path_prefix) => bad(
                    format!("routes[{i}].public_paths[{j}]"),
                    format!("`{p}` is outside this route's path_prefix `{}`, so it would never apply", r.path_prefix),
                ),
                Ok(()) => {}
            }
        }
        for (j, p) in r.allow_providers.iter().enumerate() {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_graphic()) {
                bad(format!("routes[{i}].allow_providers[{j}]"), format!("`{p}` is not a provider id"));
            }
        }
        for (j, d) in r.allow_email_domains.iter().enumerate() {
            let plain = !d.is_empty()
                && d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if !plain {
                bad(
                    format!("routes[{i}].allow_email_domains[{j}]"),
                    format!("`{d}` must be a domain like example.com (no @, wildcard or scheme)"),
                );
            }
        }
        for (j, a) in r.allow_accounts.iter().enumerate() {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric()) {
                bad(format!("routes[{i}].allow_accounts[{j}]"), format!("`{a}` is not an account id"));
            }
        }
        if let Some(a) = &r.audience {
            if a.is_empty() || a.chars().any(char::is_control) {
                bad(format!("routes[{i}].audience"), "must be a non-empty string without control characters".into());
            }
        }
        if let Some(t) = r.upstream_timeout_secs {
            if !(1..=3600).contains(&t) {
                bad(format!("routes[{i}].upstream_timeout_secs"), "must be between 1 and 3600 seconds".into());
            } else if r.upstream.is_none() {
                bad(format!("routes[{i}].upstream_timeout_secs"), "only a route with an `upstream` has one".into());
            }
        }
    }
    for (j, h) in proxy.redirect_hosts.iter().enumerate() {
        if let Err(reason) = check_host(h) {
            bad(format!("proxy.redirect_hosts[{j}]"), reason);
        }
    }
    if !(1..=3600).contains(&proxy.upstream_timeout_secs) {
        bad("proxy.upstream_timeout_secs".into(), "must be between 1 and 3600 seconds".into());
    }
    if let Some(path) = &proxy.upstream_ca_file {
        if let Err(reason) = super::tls::ca_certificates(path) {
            bad("proxy.upstream_ca_file".into(), reason);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_or_refused_when_ambiguous() {
        for (raw, want) in [
            ("/", Some("/")),
            ("/a/b", Some("/a/b")),
            ("/a//b", Some("/a/b")),
            ("/a/./b/../c", Some("/a/c")),
            ("/healthz/../admin", Some("/admin")),
            ("/%2e%2e/admin", Some("/admin")),
            ("/%61dmin", Some("/admin")),
            ("/a/%3f", Some("/a/%3F")),
            ("/a/", Some("/a/")),
            ("/a/..", Some("/")),
            ("/..", Some("/")),
            ("/ünï", Some("/ünï")),
            ("/a%2Fb", None),
            ("/a%5cb", None),
            ("/a\\b", None),
            ("/a%00", None),
            ("/a%zz", None),
            ("/a%2", None),
            ("a", None),
            ("/a\tb", None),
            ("/healthz/..;/admin", None),
            ("/admin;x", None),
        ] {
            assert_eq!(normalize_path(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn the_quick_path_agrees_with_the_full_normaliser() {
        let parts = ["", "/", "a", ".", "..", "%2e", "%41", ";", "?", "#", " ", "\\", "ü", "~", "-_", "\u{7f}"];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for raw in [format!("/{a}{b}{c}"), format!("/{a}/{b}/{c}"), format!("/x/{a}/{b}{c}/")] {
                        assert_eq!(normalize_path(&raw), normalize_slowly(&raw), "{raw:?}");
                        checked += usize::from(is_normal(&raw));
                    }
                }
            }
        }
        assert!(checked > 100, "the quick path was taken {checked} times");
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under("/app", "/app"));
        assert!(under("/app/x", "/app"));
        assert!(!under("/apple", "/app"));
        assert!(under("/app/x", "/app/"));
        assert!(!under("/app", "/app/"));
        assert!(under("/anything", "/"));
    }

    const OWN: &str = "https://auth.example";

    fn route(host: &str, prefix: &str) -> RouteSettings {
        RouteSettings {
            host: host.into(),
            path_prefix: prefix.into(),
            upstream: None,
            public_paths: vec![],
            allow_providers: vec![],
            allow_email_domains: vec![],
            allow_accounts: vec![],
            audience: None,
            upstream_timeout_secs: None,
        }
    }

    #[test]
    fn the_longest_prefix_of_the_exact_host_wins() {
        let t = RouteTable::build(
            &[route("app.example", "/"), route("app.example", "/admin"), route("app.example:8443", "/")],
            &ProxySettings::default(),
            OWN,
        )
        .unwrap();
        assert_eq!(t.find("app.example", "/admin/x").unwrap().path_prefix, "/admin");
        assert_eq!(t.find("app.example", "/administrator").unwrap().path_prefix, "/");
        assert_eq!(t.find("app.example:8443", "/admin").unwrap().host, "app.example:8443");
        assert!(t.find("other.example", "/").is_none());
        assert!(t.find("app.example:9000", "/").is_none());
        assert_eq!(t.find("app.example", "/").unwrap().audience, "https://app.example");
        // A trailing-slash prefix also takes its bare path, never leaving it to `/`'s policy.
        let t = RouteTable::build(
            &[route("app.example", "/"), route("app.example", "/admin/")],
            &ProxySettings::default(),
            OWN,
        )
        .unwrap();
        assert_eq!(t.find("app.example", "/admin").unwrap().path_prefix, "/admin/");
        assert_eq!(t.find("app.example", "/admin/x").unwrap().path_prefix, "/admin/");
        assert_eq!(t.find("app.example", "/administrator").unwrap().path_prefix, "/");
        let local = RouteTable::build(&[route("127.0.0.1:9000", "/")], &ProxySettings::default(), OWN).unwrap();
        assert_eq!(local.find("127.0.0.1:9000", "/").unwrap().audience, "http://127.0.0.1:9000");
    }

    #[test]
    fn return_addresses_name_a_route_host_or_a_redirect_host() {
        let t = RouteTable::build(
            &[route("app.example", "/"), route("port.example:8080", "/")],
            &ProxySettings { redirect_hosts: vec!["www.example".into()], ..Default::default() },
            OWN,
        )
        .unwrap();
        assert!(t.return_address("https://app.example/x?y=1").is_ok());
        assert!(t.return_address("HTTPS://APP.example:443/").is_ok());
        assert!(t.return_address("http://port.example:8080/").is_ok());
        assert!(t.return_address("https://www.example/").is_ok());
        for bad in [
            "/x",
            "//app.example/",
            "https://app.example:444/",
            "https://port.example/",
            "https://evil.example/",
            "https://app.example@evil.example/",
            "https://x@app.example/",
            "javascript:alert(1)",
            "https://app.example\\@evil.example/",
            " https://app.example/",
            "https://app.example.evil.example/",
            "ftp://app.example/",
        ] {
            assert!(t.return_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_route_settings_are_named_by_key() {
        let mut r = route("*.example.com", "/a/../b");
        r.upstream = Some("ftp://x".into());
        r.public_paths = vec!["/elsewhere".into()];
        r.allow_email_domains = vec!["@example.com".into()];
        let dup = route("*.example.com", "/a/../b");
        let problems =
            check(&[r, dup], &ProxySettings { redirect_hosts: vec!["https://x".into()], ..Default::default() }, OWN);
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "routes[0].host",
            "routes[0].path_prefix",
            "routes[0].upstream",
            "routes[0].public_paths[0]",
            "routes[0].allow_email_domains[0]",
            "routes[1].path_prefix",
            "proxy.redirect_hosts[0]",
        ] {
            assert!(keys.contains(&k), "{k} in {problems:?}");
        }
        assert!(check_host("app.example.com:443").is_err());
        assert!(check_host("App.Example.com").is_ok());
        assert!(check_host("127.0.0.1:9000").is_ok());
        assert!(check_host("[::1]:9000").is_ok());
    }

    #[test]
    fn proxied_routes_are_http_whole_hosts_and_never_braids_own() {
        let up = |host: &str, prefix: &str, upstream: Option<&str>| RouteSettings {
            upstream: upstream.map(str::to_owned),
            ..route(host, prefix)
        };
        let keys = |routes: &[RouteSettings], proxy: &ProxySettings| -> Vec<String> {
            check(routes, proxy, OWN).into_iter().map(|(k, _)| k).collect()
        };
        let ok = [up("app.example", "/", Some("http://127.0.0.1:9000")), up("app.example", "/a", Some("http://h/x"))];
        assert!(keys(&ok, &ProxySettings::default()).is_empty());
        let t = RouteTable::build(&ok, &ProxySettings::default(), OWN).unwrap();
        assert!(t.proxies("app.example") && !t.proxies("other.example"));
        assert!(
            keys(&[up("app.example", "/", Some("https://app.internal:9443"))], &ProxySettings::default()).is_empty(),
            "https upstreams are verified against the web's roots and `upstream_ca_file`"
        );
        assert_eq!(
            keys(&[up("app.example", "/", Some("ftp://app.internal"))], &ProxySettings::default()),
            ["routes[0].upstream"]
        );
        assert_eq!(
            keys(&[up("Auth.Example", "/", Some("http://127.0.0.1:9000"))], &ProxySettings::default()),
            ["routes[0].host"]
        );
        assert!(keys(&[up("auth.example", "/", None)], &ProxySettings::default()).is_empty(), "forward-auth may");
        let mixed = [up("app.example", "/", Some("http://127.0.0.1:9000")), up("app.example", "/b", None)];
        assert_eq!(keys(&mixed, &ProxySettings::default()), ["routes[1].upstream"]);
        for secs in [0, 3601] {
            let proxy = ProxySettings { upstream_timeout_secs: secs, ..Default::default() };
            assert_eq!(keys(&ok, &proxy), ["proxy.upstream_timeout_secs"]);
        }
        // A route's own timeout: in range, and only with an upstream.
        let with = |secs: u64, upstream: Option<&str>| {
            let mut r = up("app.example", "/", upstream);
            r.upstream_timeout_secs = Some(secs);
            keys(&[r], &ProxySettings::default())
        };
        assert!(with(5, Some("http://127.0.0.1:9000")).is_empty());
        assert_eq!(with(0, Some("http://127.0.0.1:9000")), ["routes[0].upstream_timeout_secs"]);
        assert_eq!(with(3601, Some("http://127.0.0.1:9000")), ["routes[0].upstream_timeout_secs"]);
        assert_eq!(with(5, None), ["routes[0].upstream_timeout_secs"]);
        let mut own = up("app.example", "/", Some("http://127.0.0.1:9000"));
        own.upstream_timeout_secs = Some(7);
        let t = RouteTable::build(
            &[own, up("app.example", "/b", Some("http://127.0.0.1:9000"))],
            &ProxySettings::default(),
            OWN,
        )
        .unwrap();
        let timeouts: Vec<u64> = t.routes.iter().map(|r| r.timeout.as_secs()).collect();
        assert_eq!(timeouts, [7, ProxySettings::default().upstream_timeout_secs], "the route's own, else [proxy]'s");
    }
}
