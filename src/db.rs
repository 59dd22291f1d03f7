//! The SQL connection pool shared by the account store and the grant store: one `sqlx` Any pool
//! over SQLite or PostgreSQL, and the embedded migrations for each.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

/// Which SQL backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The SQL database braid keeps durable state in.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// Its backend.
    pub backend: Backend,
    /// SQLite's group-commit writer (see `group_commit`); unused on PostgreSQL.
    pub writer: crate::group_commit::GroupWriter,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is not a `sqlite:` or `postgres:` URL.
    #[error("unsupported database URL `{0}` (expected sqlite://… or postgres://…)")]
    Scheme(String),
    /// Connecting or migrating failed.
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Which backend `url` names.
    pub fn backend_of(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::Scheme(url.to_owned()))
        }
    }

    /// Open the pool (creating a SQLite file if absent) and apply pending migrations; SQLite
    /// commits are durable (`synchronous = FULL`).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, SqliteSync::Full).await
    }

    /// [`Db::connect`] with SQLite's `synchronous` setting `sync` (PostgreSQL ignores it).
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Self::backend_of(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let max = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            // A connection used within the last second is handed out as it is; one idle longer
            // is pinged first (a dead one is replaced). Pinging every time cost a round trip
            // (on SQLite a hand-off to its thread) per statement on the hot paths.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; the busy timeout makes
                        // concurrent writers queue instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query(sync.pragma()).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Self { pool, backend, writer: Default::default() })
    }

    /// Check that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }
}

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// SQLite's `synchronous` in WAL mode (`[store] sqlite_synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// Each commit is on disk before braid answers (an fsync per commit). The default: a
    /// revocation, once answered, survives a power loss.
    #[default]
    Full,
    /// Commits reach the disk at WAL checkpoints: far fewer fsyncs; a power loss or OS crash
    /// may undo the last commits (a braid crash never does; the database is never corrupted).
    Normal,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "PRAGMA synchronous = FULL",
            Self::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}
