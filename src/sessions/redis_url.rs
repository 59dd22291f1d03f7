//! The `[store] sessions` setting: `memory`, one Redis (`redis://`, `rediss://`), Redis behind
//! Sentinel (`redis+sentinel://host1:26379,host2:26379/mymaster/0`) or a Redis Cluster
//! (`redis-cluster://host1:7000,host2:7001,host3:7002`), parsed into a [`RedisTarget`] with a
//! precise message for a bad value.

/// Where the Redis session store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis server: the URL as given (`redis://…` or `rediss://…`).
    Single(String),
    /// The master that Sentinel names, followed across failovers.
    Sentinel {
        /// The sentinels (host, port), asked in this order.
        sentinels: Vec<(String, u16)>,
        /// The name the sentinels monitor the master under.
        master: String,
        /// The database number on the master.
        db: i64,
        /// User name for the Redis nodes (not the sentinels).
        username: Option<String>,
        /// Password for the Redis nodes (not the sentinels).
        password: Option<String>,
    },
    /// A Redis Cluster, discovered from these seed nodes (`redis://[auth@]host:port` each).
    Cluster {
        /// The seed nodes.
        nodes: Vec<String>,
    },
}

const SENTINEL_FORM: &str = "redis+sentinel://host1:26379,host2:26379/mymaster/0";
const CLUSTER_FORM: &str = "redis-cluster://host1:7000,host2:7001,host3:7002";

/// Parse the `[store] sessions` setting: `Ok(None)` for `memory`, the Redis target otherwise, or
/// a message naming what is wrong.
pub fn parse_sessions_url(url: &str) -> Result<Option<RedisTarget>, String> {
    if url == "memory" {
        return Ok(None);
    }
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        return parse_sentinel(rest)
            .map(Some)
            .map_err(|e| format!("`{}`: {e} (expected {SENTINEL_FORM})", redact(url)));
    }
    if let Some(rest) = url.strip_prefix("redis-cluster://") {
        return parse_cluster(rest).map(Some).map_err(|e| format!("`{}`: {e} (expected {CLUSTER_FORM})", redact(url)));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return match url::Url::parse(url) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(Some(RedisTarget::Single(url.to_owned()))),
            Ok(_) => Err(format!("`{}`: no host", redact(url))),
            Err(e) => Err(format!("`{}`: {e}", redact(url))),
        };
    }
    Err(format!("`{}` must be `memory`, a redis:// or rediss:// URL, {SENTINEL_FORM} or {CLUSTER_FORM}", redact(url)))
}

/// Check a key prefix for Redis Cluster: a brace in it would become the hash tag of every key
/// and put them all in one slot.
pub fn check_key_prefix(prefix: &str) -> Result<(), String> {
    if prefix.contains(['{', '}']) {
        return Err(format!(
            "`{prefix}` must not contain `{{` or `}}`: braid puts its own hash tags in its Redis keys"
        ));
    }
    Ok(())
}

/// The URL with any password replaced by `***` (also for the multi-host forms, which are not
/// URLs that the `url` crate parses).
pub fn redact(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.password().is_some() && u.set_password(Some("***")).is_ok() {
            return u.to_string();
        }
    }
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// The parts of `[userinfo@]host:port,host:port/path`.
type Hosts<'a> = (Option<&'a str>, Vec<(String, u16)>, &'a str);

/// Split `[userinfo@]host:port,host:port` from its path.
fn split_hosts(rest: &str) -> Result<Hosts<'_>, String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if hosts.is_empty() {
        return Err("no hosts".into());
    }
    let mut out = Vec::new();
    for h in hosts.split(',') {
        let (host, port) = h.rsplit_once(':').ok_or_else(|| format!("host `{h}` has no port"))?;
        if host.is_empty() {
            return Err(format!("host `{h}` has no name"));
        }
        let port: u16 = port.parse().map_err(|_| format!("port `{port}` of host `{host}` is not a port number"))?;
        out.push((host.to_owned(), port));
    }
    Ok((userinfo.filter(|u| !u.is_empty()), out, path))
}

/// The user name and password in `userinfo`, percent-decoded.
fn credentials(userinfo: Option<&str>) -> Result<(Option<String>, Option<String>), String> {
    let Some(userinfo) = userinfo else { return Ok((None, None)) };
    let info: redis::ConnectionInfo =
        redis::IntoConnectionInfo::into_connection_info(format!("redis://{userinfo}@127.0.0.1/"))
            .map_err(|e| format!("user name or password: {e}"))?;
    Ok((info.redis.username, info.redis.password))
}

fn parse_sentinel(rest: &str) -> Result<RedisTarget, String> {
    let (userinfo, sentinels, path) = split_hosts(rest)?;
    let mut parts = path.trim_start_matches('/').split('/');
    let master = parts.next().filter(|m| !m.is_empty()).ok_or("no master name after the hosts")?.to_owned();
    let db = match parts.next() {
        None | Some("") => 0,
        Some(db) => {
            db.parse::<i64>().ok().filter(|d| *d >= 0).ok_or_else(|| format!("database `{db}` is not a number"))?
        }
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `/{extra}` after the database"));
    }
    let (username, password) = credentials(userinfo)?;
    Ok(RedisTarget::Sentinel { sentinels, master, db, username, password })
}

fn parse_cluster(rest: &str) -> Result<RedisTarget, String> {
    let (userinfo, hosts, path) = split_hosts(rest)?;
    if !matches!(path, "" | "/" | "/0") {
        return Err(format!("`{path}`: a cluster has only database 0 and takes no path"));
    }
    credentials(userinfo)?;
    let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let nodes = hosts.iter().map(|(h, p)| format!("redis://{auth}{h}:{p}/")).collect();
    Ok(RedisTarget::Cluster { nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_redis_forms_parse() {
        assert_eq!(parse_sessions_url("memory"), Ok(None));
        assert_eq!(
            parse_sessions_url("redis://127.0.0.1:6379/0"),
            Ok(Some(RedisTarget::Single("redis://127.0.0.1:6379/0".into())))
        );
        assert_eq!(
            parse_sessions_url("redis+sentinel://:s3cret@h1:26379,h2:26380/mymaster/2"),
            Ok(Some(RedisTarget::Sentinel {
                sentinels: vec![("h1".into(), 26379), ("h2".into(), 26380)],
                master: "mymaster".into(),
                db: 2,
                username: None,
                password: Some("s3cret".into()),
            }))
        );
        assert_eq!(
            parse_sessions_url("redis+sentinel://h1:26379/mymaster"),
            Ok(Some(RedisTarget::Sentinel {
                sentinels: vec![("h1".into(), 26379)],
                master: "mymaster".into(),
                db: 0,
                username: None,
                password: None,
            }))
        );
        assert_eq!(
            parse_sessions_url("redis-cluster://u:p@h1:7000,h2:7001"),
            Ok(Some(RedisTarget::Cluster {
                nodes: vec!["redis://u:p@h1:7000/".into(), "redis://u:p@h2:7001/".into()]
            }))
        );
    }

    #[test]
    fn a_bad_redis_url_gets_a_precise_message() {
        let cases = [
            ("redis+sentinel://h1:26379", "no master name after the hosts"),
            ("redis+sentinel://h1/mymaster", "host `h1` has no port"),
            ("redis+sentinel://h1:x/mymaster", "port `x` of host `h1` is not a port number"),
            ("redis+sentinel://h1:1/m/zero", "database `zero` is not a number"),
            ("redis+sentinel:///m", "no hosts"),
            ("redis-cluster://h1:7000/3", "`/3`: a cluster has only database 0"),
            ("redis-cluster://h1:7000,:7001", "host `:7001` has no name"),
            ("redis-sentinel://h1:1/m", "must be `memory`, a redis:// or rediss:// URL"),
        ];
        for (url, expected) in cases {
            let e = parse_sessions_url(url).expect_err(url);
            assert!(e.contains(expected), "{url}: {e}");
        }
    }

    #[test]
    fn passwords_are_redacted_in_every_form() {
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis-cluster://u:pw@h1:1,h2:2"), "redis-cluster://u:***@h1:1,h2:2");
        assert_eq!(redact("redis+sentinel://:pw@h1:1,h2:2/m/0"), "redis+sentinel://:***@h1:1,h2:2/m/0");
        assert_eq!(redact("redis-cluster://h1:1,h2:2"), "redis-cluster://h1:1,h2:2");
        let e = parse_sessions_url("redis+sentinel://:pw@h1:1").unwrap_err();
        assert!(!e.contains("pw@"), "{e}");
    }

    #[test]
    fn a_prefix_with_braces_is_refused() {
        assert!(check_key_prefix("braid:").is_ok());
        assert!(check_key_prefix("{braid}:").is_err());
    }
}
