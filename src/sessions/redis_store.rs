//! Redis `SessionStore` for production and replicas: one Redis, Redis behind Sentinel, or a
//! Redis Cluster (see `redis_url` for the URLs, `redis_conn` for the connections). Every operation
//! is bounded by the configured timeout and fails closed with `StoreError::Unavailable`; the
//! connections reconnect by themselves (through the sentinels after a failover).
//!
//! ## Key layout
//!
//! Every key carries a Redis Cluster hash tag, the same on one Redis, Sentinel or a cluster:
//!
//! | caller key | Redis key |
//! |---|---|
//! | `kind:name` (`sess:…`, `code:…`, `codeused:…`) | `key_prefix + "kind:{name}"` |
//! | `name` (no `:`) | `key_prefix + "{name}"` |
//! | index of account `id` | `key_prefix + "idx:{acct:id}"`, a set of full Redis keys |
//!
//! So the keys that one script touches share a slot: `take_and_mark` takes `code:H` and marks
//! `codeused:H`, both tagged `{H}` (the store refuses two keys of different names). The index
//! scripts touch only the index. `end_all` is not a script: it reads the index, then deletes
//! each member with its own `DEL` (the members live in the slots of their own names) and only
//! then removes it from the index, so a failure half-way leaves the rest indexed for a retry. A
//! session indexed while `end_all` runs is either read by it (and ended) or kept, as with one
//! atomic script. The prefix must hold no brace (`check_key_prefix`). Keys written before the
//! tags (braid 0.1 on one Redis) are not read any more: people sign in again once.
//!
//! `connect` refuses a Redis whose `maxmemory-policy` may evict keys, on every master it can see:
//! the server, each primary of a cluster, or the master Sentinel names at start (a replica
//! promoted later is not asked; give the replicas the same configuration). Every policy but
//! `noeviction` can evict (`volatile-*` ones evict exactly the keys with a TTL, which are all of
//! braid's), and an evicted login transaction, replay-cache entry or used-code marker would let a
//! sign-in fail at random or a used value pass again. The policy is read with `INFO memory`,
//! which managed Redis services allow where `CONFIG GET` is disabled.
//!
//! The Lua scripts are sent with `EVAL` (the redis crate's `script` feature is off) and declare
//! every key they touch.

use super::redis_conn::Conn;
use super::redis_url::{RedisTarget, parse_sessions_url};
use super::{SessionStore, StoreError, same_name};
use crate::clock::UnixMillis;
use async_trait::async_trait;
use redis::Value;
use std::time::Duration;

/// SADD the member, then raise the set's expiry to at least ARGV[2] ms (never lower it).
const INDEX_ADD_LUA: &str = r#"
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"#;

/// GCRA over one key (valid on a cluster): KEYS[1] the budget; ARGV now, interval (ms), burst,
/// spend (1/0). Returns the wait in ms (0: allowed, and spent when asked).
const THROTTLE_LUA: &str = r#"
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local new_tat = tat + t
local allow_at = new_tat - t * tonumber(ARGV[3])
if allow_at > now then return allow_at - now end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', math.max(new_tat - now, 1)))
end
return 0
"#;

/// GETDEL of KEYS[1] and, when it held a value, SET KEYS[2] = ARGV[1] PX ARGV[2], atomically.
const TAKE_AND_MARK_LUA: &str = r"
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
return v
";

/// A `SessionStore` in Redis (>= 6.2, for `GETDEL`), shared by every braid replica.
#[derive(Clone)]
pub struct RedisSessionStore {
    conn: Conn,
    prefix: String,
    op_timeout: Duration,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// Connect to the Redis that `url` names (`redis://…`, `rediss://…`,
    /// `redis+sentinel://host1:26379,host2:26379/mymaster/0` or
    /// `redis-cluster://host1:7000,host2:7001`). Keys are stored under `key_prefix` (e.g.
    /// `"braid:"`). Connecting and every later operation give up after `op_timeout` with
    /// `StoreError::Unavailable`.
    pub async fn connect(url: &str, key_prefix: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        let target = match parse_sessions_url(url) {
            Ok(Some(t)) => t,
            Ok(None) => RedisTarget::Single(url.to_owned()),
            Err(e) => return Err(StoreError::Unavailable(format!("invalid Redis URL: {e}"))),
        };
        super::redis_url::check_key_prefix(key_prefix)
            .map_err(|e| StoreError::Unsuitable(format!("key prefix {e}")))?;
        let conn = Conn::open(&target, op_timeout).await?;
        let store = Self { conn, prefix: key_prefix.to_owned(), op_timeout };
        store.ping().await?;
        store.refuse_eviction().await?;
        Ok(store)
    }

    /// Refuse a Redis that may evict braid's keys. When the policy cannot be read (`INFO`
    /// denied by an ACL, a Redis-compatible server without the field), braid warns and goes on.
    async fn refuse_eviction(&self) -> Result<(), StoreError> {
        let infos = match self.conn.info_memory_of_masters(self.op_timeout).await {
            Ok(infos) => infos,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Redis maxmemory-policy; make sure it is noeviction");
                return Ok(());
            }
        };
        let several = infos.len() > 1;
        for (node, info) in infos {
            let on = if several { format!(" on {node}") } else { String::new() };
            match maxmemory_policy(&info) {
                Some("noeviction") => {}
                Some(policy) => {
                    return Err(StoreError::Unsuitable(format!(
                        "maxmemory-policy is {policy}{on}; braid needs noeviction, because its login \
                         transactions, codes, replay caches and used-code markers live in Redis with TTLs \
                         and an evicted one would fail a sign-in or let a used value pass again (set \
                         `maxmemory-policy noeviction`, and enough maxmemory)"
                    )));
                }
                None => {
                    tracing::warn!(
                        node,
                        "Redis reports no maxmemory_policy in INFO memory; make sure it is noeviction"
                    );
                }
            }
        }
        Ok(())
    }

    /// The Redis key of a caller key (`kind:name` becomes `prefix + "kind:{name}"`).
    fn key(&self, key: &str) -> String {
        match key.split_once(':') {
            Some((kind, name)) => format!("{}{kind}:{{{name}}}", self.prefix),
            None => format!("{}{{{key}}}", self.prefix),
        }
    }

    /// The caller key of a Redis key made by [`Self::key`].
    fn caller_key(&self, full: &str) -> Option<String> {
        let rest = full.strip_prefix(&self.prefix)?;
        Some(match rest.split_once(":{") {
            Some((kind, name)) => format!("{kind}:{}", name.strip_suffix('}').unwrap_or(name)),
            None => rest.trim_start_matches('{').trim_end_matches('}').to_owned(),
        })
    }

    fn index_key(&self, account: &str) -> String {
        format!("{}idx:{{acct:{account}}}", self.prefix)
    }

    /// Run one command with the operation timeout.
    async fn query<T: redis::FromRedisValue>(&self, what: &'static str, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.conn.query(self.op_timeout, what, cmd).await
    }
}

/// The `maxmemory_policy` field of an `INFO memory` answer.
fn maxmemory_policy(info: &str) -> Option<&str> {
    info.lines().find_map(|line| line.trim_end().strip_prefix("maxmemory_policy:")).map(str::trim)
}

/// A TTL in whole milliseconds, at least 1 (Redis rejects a zero expiry).
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms(ttl));
        self.query::<()>("SET", &cmd).await
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(ttl_ms(ttl));
        let reply: Value = self.query("SET NX", &cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn replace(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("XX").arg("PX").arg(ttl_ms(ttl));
        let reply: Value = self.query("SET XX", &cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query("GET", &cmd).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query("GETDEL", &cmd).await
    }

    async fn take_and_mark(
        &self,
        key: &str,
        marker_key: &str,
        marker: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        same_name(key, marker_key)?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TAKE_AND_MARK_LUA).arg(2).arg(self.key(key)).arg(self.key(marker_key)).arg(marker).arg(ttl_ms(ttl));
        self.query("take and mark", &cmd).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.query::<()>("DEL", &cmd).await
    }

    async fn index_add(&self, account: &str, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INDEX_ADD_LUA).arg(1).arg(self.index_key(account)).arg(self.key(key)).arg(ttl_ms(ttl));
        self.query::<()>("index add", &cmd).await
    }

    async fn index_remove(&self, account: &str, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SREM");
        cmd.arg(self.index_key(account)).arg(self.key(key));
        self.query::<()>("SREM", &cmd).await
    }

    async fn throttle(
        &self,
        key: &str,
        now: UnixMillis,
        interval_ms: i64,
        burst: u32,
        spend: bool,
    ) -> Result<i64, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(THROTTLE_LUA).arg(1).arg(self.key(key)).arg(now).arg(interval_ms).arg(burst).arg(u8::from(spend));
        self.query("throttle", &cmd).await
    }

    async fn index_members(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(self.index_key(account));
        let keys: Vec<String> = self.query("SMEMBERS", &cmd).await?;
        Ok(keys.iter().filter_map(|k| self.caller_key(k)).collect())
    }

    async fn end_all(&self, account: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let index = self.index_key(account);
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(&index);
        let members: Vec<String> = self.query("SMEMBERS", &cmd).await?;
        let keep = keep.map(|k| self.key(k));
        let mut deleted = 0;
        for member in members.iter().filter(|m| Some(*m) != keep.as_ref()) {
            // Only keys of this store: another prefix's keys are never touched.
            if member.starts_with(&self.prefix) {
                let mut del = redis::cmd("DEL");
                del.arg(member);
                deleted += self.query::<usize>("DEL", &del).await?;
            }
            let mut srem = redis::cmd("SREM");
            srem.arg(&index).arg(member);
            self.query::<()>("SREM", &srem).await?;
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: String = self.query("PING", &redis::cmd("PING")).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!("redis PING: unexpected reply {reply:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::maxmemory_policy;

    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1015304\r\nmaxmemory:67108864\r\nmaxmemory_human:64.00M\r\n\
                    maxmemory_policy:allkeys-lru\r\nallocator_frag_ratio:1.00\r\n";
        assert_eq!(maxmemory_policy(info), Some("allkeys-lru"));
        assert_eq!(maxmemory_policy("maxmemory_policy:noeviction"), Some("noeviction"));
        assert_eq!(maxmemory_policy("# Memory\r\nused_memory:1\r\n"), None);
    }
}
