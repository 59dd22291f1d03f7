//! `ClientIp`: the client address of a request, for the audit log and rate limits. It is the
//! socket peer, unless the peer is one of `[server] trusted_proxies`: then `X-Forwarded-For` is
//! read from the right, skipping trusted hops, and the first untrusted address is the client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::state::AppState;

/// The address the request came from.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parse `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or an IPv6 network.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client address of a request from `peer` with `headers`, trusting `X-Forwarded-For` only
/// from `trusted` peers (and only its hops that are not trusted themselves).
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Net]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    // From the right: the first hop a trusted proxy did not add itself.
    Some(hops.iter().rev().copied().find(|ip| !is_trusted(*ip)).or_else(|| hops.first().copied()).unwrap_or(peer))
}

/// The networks of `[server] trusted_proxies` (checked at startup).
pub fn trusted(state: &AppState) -> Vec<Net> {
    state.settings.server.trusted_proxies.iter().filter_map(|p| Net::parse(p)).collect()
}

/// The client address of a request with `extensions` and `headers`, as [`resolve`] decides it
/// with `[server] trusted_proxies`.
pub fn of_request(state: &AppState, extensions: &axum::http::Extensions, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    resolve(peer, headers, &trusted(state))
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(of_request(state, &parts.extensions, &parts.headers).map(|ip| ip.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_peers() {
        let trusted = [Net::parse("10.0.0.0/8").unwrap(), Net::parse("127.0.0.1").unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's header is ignored: it could say anything.
        assert_eq!(resolve(Some(ip("203.0.113.9")), &xff("1.2.3.4"), &trusted), Some(ip("203.0.113.9")));
        // A trusted peer: the rightmost untrusted hop (a client cannot forge past the proxy).
        assert_eq!(resolve(Some(ip("10.1.2.3")), &xff("6.6.6.6, 198.51.100.7"), &trusted), Some(ip("198.51.100.7")));
        assert_eq!(resolve(Some(ip("127.0.0.1")), &xff("198.51.100.7, 10.9.9.9"), &trusted), Some(ip("198.51.100.7")));
        assert_eq!(resolve(Some(ip("127.0.0.1")), &HeaderMap::new(), &trusted), Some(ip("127.0.0.1")));
        assert_eq!(resolve(Some(ip("::ffff:10.0.0.1")), &xff("192.0.2.1"), &trusted), Some(ip("192.0.2.1")));
        assert!(Net::parse("10.0.0.0/33").is_none() && Net::parse("nope").is_none());
        assert!(Net::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
    }
}
