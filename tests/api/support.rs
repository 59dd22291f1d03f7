//! Real backing services for the tests: Redis and PostgreSQL URLs, fresh databases, temp dirs.
//! The test command (`scripts/test`) starts the servers when nothing listens; tests never skip.

use sqlx::Connection;

/// Redis used by the tests (`BRAID_TEST_REDIS`, default `redis://127.0.0.1:6379/0`).
pub fn redis_url() -> String {
    std::env::var("BRAID_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// The Redis Cluster used by the tests (`BRAID_TEST_REDIS_CLUSTER`); never skipped: without it
/// the test fails and says how to get one.
pub fn redis_cluster_url() -> String {
    std::env::var("BRAID_TEST_REDIS_CLUSTER").unwrap_or_else(|_| {
        panic!(
            "BRAID_TEST_REDIS_CLUSTER is not set: scripts/test starts a 3-master Redis Cluster on 127.0.0.1:7101-7103 \
             and sets it (or run `. scripts/lib.sh && ensure_redis_cluster` and set \
             BRAID_TEST_REDIS_CLUSTER=redis-cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103)"
        )
    })
}

/// The Redis behind Sentinel used by the tests (`BRAID_TEST_REDIS_SENTINEL`); never skipped:
/// without it the test fails and says how to get one.
pub fn redis_sentinel_url() -> String {
    std::env::var("BRAID_TEST_REDIS_SENTINEL").unwrap_or_else(|_| {
        panic!(
            "BRAID_TEST_REDIS_SENTINEL is not set: scripts/test starts a Redis master, a replica and 3 sentinels \
             (127.0.0.1:7201-7202, 26401-26403) and sets it (or run `. scripts/lib.sh && ensure_redis_sentinel` and set \
             BRAID_TEST_REDIS_SENTINEL=redis+sentinel://127.0.0.1:26401,127.0.0.1:26402,127.0.0.1:26403/braid/0)"
        )
    })
}

/// A PostgreSQL URL allowed to create databases (`BRAID_TEST_POSTGRES`).
pub fn pg_admin_url() -> String {
    std::env::var("BRAID_TEST_POSTGRES").unwrap_or_else(|_| "postgres://braid:braid@127.0.0.1:5432/postgres".into())
}

/// A unique suffix for names made by one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", braid::ids::random_base32(10))
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_pg_url() -> String {
    let admin = pg_admin_url();
    let name = unique("braid_t_");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} must be reachable for tests: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A SQLite database file inside `dir`; returns its URL.
pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("braid.db").display())
}
