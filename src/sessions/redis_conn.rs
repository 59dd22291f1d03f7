//! The connection beneath `RedisSessionStore`: one Redis (the redis crate's connection manager),
//! a Redis Cluster (its cluster client, which follows slots and `MOVED`), or the master that
//! Sentinel names (the redis crate's `SentinelClient`, asked again after any failure). Every
//! command is bounded by the operation timeout and a failure is `StoreError::Unavailable`, never
//! a guess.

use super::StoreError;
use super::redis_url::RedisTarget;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionAddr, FromRedisValue, RedisResult, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection to wherever the store lives.
#[derive(Clone)]
pub(super) enum Conn {
    /// One Redis server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// The master named by Sentinel.
    Sentinel(Arc<SentinelConn>),
}

/// The master that Sentinel names, and the connection to it while it works. Any failure drops
/// the connection, so the next command asks the sentinels again: after a failover it reaches the
/// new master (the sentinels also close the clients of a demoted master). The redis crate checks
/// with `ROLE` that the node it connects to is a master.
pub(super) struct SentinelConn {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
    master: String,
}

impl SentinelConn {
    fn cached(&self) -> Option<MultiplexedConnection> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn forget(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The connection to the current master, asking the sentinels when there is none.
    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let mut client = self.client.lock().await;
        // Another caller may have connected while this one waited.
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let c = client.get_async_connection_with_config(&self.config).await?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }
}

impl Conn {
    /// Connect to `target`, within `limit`.
    pub(super) async fn open(target: &RedisTarget, limit: Duration) -> Result<Self, StoreError> {
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(limit)
                    .set_response_timeout(limit)
                    .set_number_of_retries(3)
                    .set_max_delay(1_000);
                let conn = bounded(limit, "connect", ConnectionManager::new_with_config(client, config)).await?;
                Ok(Self::Single(conn))
            }
            RedisTarget::Cluster { nodes } => {
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(limit)
                    .response_timeout(limit)
                    .retries(2)
                    .max_retry_wait(200)
                    .build()
                    .map_err(|e| StoreError::Unavailable(format!("invalid Redis Cluster URL: {e}")))?;
                let conn = bounded(limit, "connect to the cluster", client.get_async_connection()).await?;
                Ok(Self::Cluster(conn))
            }
            RedisTarget::Sentinel { sentinels, master, db, username, password } => {
                let addrs = sentinels.iter().map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
                let mut builder = SentinelClientBuilder::new(addrs, master.clone(), SentinelServerType::Master)
                    .map_err(|e| StoreError::Unavailable(format!("invalid Sentinel URL: {e}")))?
                    .set_client_to_redis_db(*db);
                if let Some(u) = username {
                    builder = builder.set_client_to_redis_username(u.clone());
                }
                if let Some(p) = password {
                    builder = builder.set_client_to_redis_password(p.clone());
                }
                let client =
                    builder.build().map_err(|e| StoreError::Unavailable(format!("invalid Sentinel URL: {e}")))?;
                let config = AsyncConnectionConfig::new().set_connection_timeout(limit).set_response_timeout(limit);
                let conn = Arc::new(SentinelConn {
                    client: tokio::sync::Mutex::new(client),
                    current: Mutex::new(None),
                    config,
                    master: master.clone(),
                });
                bounded(limit, "connect through Sentinel", conn.connection()).await?;
                Ok(Self::Sentinel(conn))
            }
        }
    }

    /// Run one command within `limit`. Commands of a script or multi-key command must name keys
    /// of one hash tag (see the module docs of `redis_store`).
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        limit: Duration,
        what: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        match self {
            Self::Single(c) => {
                let mut c = c.clone();
                bounded(limit, what, cmd.query_async(&mut c)).await
            }
            Self::Cluster(c) => {
                let mut c = c.clone();
                bounded(limit, what, cmd.query_async(&mut c)).await
            }
            Self::Sentinel(s) => {
                let run = async {
                    let mut c = s.connection().await?;
                    cmd.query_async(&mut c).await
                };
                let result = bounded(limit, what, run).await;
                if result.is_err() {
                    s.forget();
                }
                result
            }
        }
    }

    /// The `INFO memory` of every master: one for a single Redis or Sentinel (the current
    /// master), each primary of a cluster. Named by address where the store knows it.
    pub(super) async fn info_memory_of_masters(&self, limit: Duration) -> Result<Vec<(String, String)>, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("memory");
        match self {
            Self::Cluster(_) => {
                let reply: Value = self.query(limit, "INFO memory", &cmd).await?;
                match reply {
                    Value::Map(pairs) => pairs
                        .into_iter()
                        .map(|(node, info)| Ok((String::from_redis_value(&node)?, String::from_redis_value(&info)?)))
                        .collect::<RedisResult<Vec<_>>>()
                        .map_err(|e| StoreError::Unavailable(format!("redis INFO memory: {e}"))),
                    other => Ok(vec![(
                        "the cluster".into(),
                        String::from_redis_value(&other)
                            .map_err(|e| StoreError::Unavailable(format!("redis INFO memory: {e}")))?,
                    )]),
                }
            }
            Self::Single(_) => Ok(vec![("the server".into(), self.query(limit, "INFO memory", &cmd).await?)]),
            Self::Sentinel(s) => {
                Ok(vec![(format!("the master `{}`", s.master), self.query(limit, "INFO memory", &cmd).await?)])
            }
        }
    }
}

/// `fut` under `limit`; a timeout or a Redis error becomes `StoreError::Unavailable`.
pub(super) async fn bounded<T>(
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
