//! Every hot SQL statement (sign-in, grant creation at code redemption, refresh rotation,
//! revocation, the trust re-check) uses an index on SQLite and on a real PostgreSQL: its plan is
//! read with `EXPLAIN QUERY PLAN` / `EXPLAIN` against a migrated database and must not scan a
//! table. On PostgreSQL sequential scans are switched off for the session, so a statement with
//! no usable index still shows `Seq Scan` on tiny tables.

use braid::accounts::queries as acc;
use braid::db::{Backend, Db};
use braid::issuer::grants as g;
use sqlx::Row as _;

use crate::support;

/// A bind value of the right type for PostgreSQL's planner.
#[derive(Clone, Copy)]
enum Arg {
    T,
    I,
}
use Arg::{I, T};

/// The hot statements and the types of their parameters.
fn hot() -> Vec<(&'static str, &'static str, Vec<Arg>)> {
    vec![
        ("record_login", acc::RECORD_LOGIN, vec![T, T, I, T, I, T, T, T]),
        ("identity_by_key", acc::IDENTITY_BY_KEY, vec![T, T]),
        ("identity_by_id", acc::IDENTITY_BY_ID, vec![I]),
        ("account_by_id", acc::ACCOUNT_BY_ID, vec![T]),
        ("identities_of", acc::IDENTITIES_OF, vec![T]),
        ("account_with_identities", acc::ACCOUNT_WITH_IDENTITIES, vec![T]),
        ("audit_sign_in", acc::AUDIT_SIGN_IN, vec![I, T, T, T, T, T, T]),
        ("insert_grant", g::INSERT_GRANT, vec![T, T, T, T, I, T, T, T, I, I, I, T, T, T, T]),
        ("insert_refresh", g::INSERT_REFRESH, vec![T, T, I]),
        ("rotate_spend", g::ROTATE_SPEND, vec![I, T, T]),
        ("by_token", g::BY_TOKEN, vec![T]),
        ("by_token_state", g::BY_TOKEN_STATE, vec![T]),
        ("by_id", g::BY_ID, vec![T]),
        ("spent_state", g::SPENT_STATE, vec![T]),
        ("spend", g::SPEND, vec![I, T]),
        ("set_replaced_by", g::SET_REPLACED_BY, vec![T, T]),
        ("revoke", g::REVOKE, vec![I, T]),
        ("revoke_session", g::REVOKE_SESSION, vec![I, T]),
        ("revoke_account", g::REVOKE_ACCOUNT, vec![I, T]),
        ("live_for_account", g::LIVE_FOR_ACCOUNT, vec![T, I]),
    ]
}

/// The plan of `sql` as lines of text.
async fn plan(conn: &mut sqlx::AnyConnection, backend: Backend, sql: &str, args: &[Arg]) -> Vec<String> {
    let explain = match backend {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => format!("EXPLAIN {sql}"),
    };
    let mut q = sqlx::query(&explain);
    for a in args {
        q = match a {
            T => q.bind("x"),
            I => q.bind(1_i64),
        };
    }
    let rows = q.fetch_all(&mut *conn).await.unwrap_or_else(|e| panic!("explain {sql}: {e}"));
    rows.iter()
        .map(|r| match backend {
            Backend::Sqlite => r.try_get::<String, _>("detail").expect("detail"),
            Backend::Postgres => r.try_get::<String, _>(0).expect("plan line"),
        })
        .collect()
}

/// The lines of a plan that read a whole table.
fn scans(backend: Backend, plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|l| match backend {
            Backend::Sqlite => {
                let l = l.trim();
                l.starts_with("SCAN ")
                    && l != "SCAN CONSTANT ROW"
                    && !l.contains("USING INDEX")
                    && !l.contains("USING COVERING INDEX")
                    && !l.contains("USING INTEGER PRIMARY KEY")
            }
            Backend::Postgres => l.contains("Seq Scan"),
        })
        .cloned()
        .collect()
}

async fn connection(db: &Db) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let mut conn = db.pool.acquire().await.expect("connection");
    if db.backend == Backend::Postgres {
        sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.expect("enable_seqscan");
    }
    conn
}

async fn every_hot_statement_uses_an_index(url: String) {
    let db = Db::connect(&url).await.expect("connect and migrate");
    let mut conn = connection(&db).await;
    // The check itself sees a scan: a filter on a column no index covers.
    let unindexed = plan(&mut conn, db.backend, "SELECT id FROM grants WHERE scope = $1", &[T]).await;
    assert!(!scans(db.backend, &unindexed).is_empty(), "a full scan must be recognised: {unindexed:?}");
    let mut failures = Vec::new();
    let mut statements = hot();
    if db.backend == Backend::Postgres {
        // PostgreSQL signs a known user in with one statement; SQLite runs its parts in one
        // transaction (record_login, account_by_id, audit_sign_in above).
        statements.push(("sign_in_one_write", acc::SIGN_IN_AUDITED, vec![T, T, I, T, I, T, T, T, T]));
        // And stores a new grant with its first refresh token in one statement.
        let grant_args = vec![T, T, T, T, I, T, T, T, I, I, I, T, T, T, T, T];
        statements.push(("insert_grant_and_refresh", g::INSERT_GRANT_AND_REFRESH, grant_args));
    }
    for (name, sql, args) in statements {
        let p = plan(&mut conn, db.backend, sql, &args).await;
        let s = scans(db.backend, &p);
        if !s.is_empty() {
            failures.push(format!("{name}: {s:?} (plan {p:?})"));
        }
    }
    assert!(failures.is_empty(), "hot statements scan a table:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn sqlite_hot_statements_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    every_hot_statement_uses_an_index(support::sqlite_url(&dir)).await;
}

#[tokio::test]
async fn postgres_hot_statements_use_indexes() {
    every_hot_statement_uses_an_index(support::fresh_pg_url().await).await;
}
