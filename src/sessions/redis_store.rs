//! Redis `SessionStore` for production and replicas.
//!
//! Every key is `key_prefix + key`; the index of an account is the set
//! `key_prefix + "idx:" + account`, whose members are full (prefixed) keys. Every operation is
//! bounded by the configured timeout and fails closed with `StoreError::Unavailable`. The
//! connection manager reconnects by itself after Redis comes back.
//!
//! `connect` refuses a Redis whose `maxmemory-policy` may evict keys: every policy but
//! `noeviction` can (`volatile-*` ones evict exactly the keys with a TTL, which are all of
//! braid's), and an evicted login transaction, replay-cache entry or used-code marker would let
//! a sign-in fail at random or a used value pass again. The policy is read with `INFO memory`,
//! which managed Redis services allow where `CONFIG GET` is disabled.
//!
//! The two Lua scripts are sent with `EVAL` (the redis crate's `script` feature is off). `end_all`
//! deletes the index's members from inside its script, keys it does not declare, which is fine
//! on a single Redis or Sentinel but not on Redis Cluster.

use super::{SessionStore, StoreError};
use crate::clock::UnixMillis;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Value};
use std::future::Future;
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

/// Delete every member of set KEYS[1] except ARGV[2] (only when ARGV[1] is "1"), remove them
/// from the set, and return how many of them still existed.
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

const END_ALL_LUA: &str = r#"
local has_keep = ARGV[1] == '1'
local keep = ARGV[2]
local deleted = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not (has_keep and member == keep) then
    deleted = deleted + redis.call('DEL', member)
    redis.call('SREM', KEYS[1], member)
  end
end
return deleted
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
    conn: ConnectionManager,
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
    /// Connect to Redis at `url` (`redis://…` or `rediss://…`). Keys are stored under
    /// `key_prefix` (e.g. `"braid:"`). Connecting and every later operation give up after
    /// `op_timeout` with `StoreError::Unavailable`.
    pub async fn connect(url: &str, key_prefix: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(op_timeout)
            .set_response_timeout(op_timeout)
            .set_number_of_retries(3)
            .set_max_delay(1_000);
        let conn = bounded(op_timeout, "connect", ConnectionManager::new_with_config(client, config)).await?;
        let store = Self { conn, prefix: key_prefix.to_owned(), op_timeout };
        store.ping().await?;
        store.refuse_eviction().await?;
        Ok(store)
    }

    /// Refuse a Redis that may evict braid's keys. When the policy cannot be read (`INFO`
    /// denied by an ACL, a Redis-compatible server without the field), braid warns and goes on.
    async fn refuse_eviction(&self) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("memory");
        let policy = match self.query::<String>("INFO memory", &cmd).await {
            Ok(info) => maxmemory_policy(&info).map(str::to_owned),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Redis maxmemory-policy; make sure it is noeviction");
                return Ok(());
            }
        };
        match policy.as_deref() {
            Some("noeviction") => Ok(()),
            Some(policy) => Err(StoreError::Unsuitable(format!(
                "maxmemory-policy is {policy}; braid needs noeviction, because its login transactions, \
                 codes, replay caches and used-code markers live in Redis with TTLs and an evicted \
                 one would fail a sign-in or let a used value pass again (set `maxmemory-policy \
                 noeviction`, and enough maxmemory)"
            ))),
            None => {
                tracing::warn!("Redis reports no maxmemory_policy in INFO memory; make sure it is noeviction");
                Ok(())
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn index_key(&self, account: &str) -> String {
        format!("{}idx:{account}", self.prefix)
    }

    /// Run one command with the operation timeout.
    async fn query<T: redis::FromRedisValue>(&self, what: &'static str, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(self.op_timeout, what, cmd.query_async(&mut conn)).await
    }
}

/// `fut` under `limit`; a timeout or a Redis error becomes `StoreError::Unavailable`.
async fn bounded<T>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    let failed = match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => format!("redis {what}: {e}"),
        Err(_) => format!("redis {what}: no answer within {} ms", limit.as_millis()),
    };
    crate::metrics::store_error("sessions");
    Err(StoreError::Unavailable(failed))
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
        Ok(keys.into_iter().filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned)).collect())
    }

    async fn end_all(&self, account: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(END_ALL_LUA).arg(1).arg(self.index_key(account));
        match keep {
            Some(k) => cmd.arg("1").arg(self.key(k)),
            None => cmd.arg("0").arg(""),
        };
        self.query("end all", &cmd).await
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
