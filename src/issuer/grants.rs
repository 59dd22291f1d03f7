//! Refresh-token families ("grants") in SQL: created at code redemption, rotated on every use,
//! and revoked whole when a rotated-out token comes back.

use async_trait::async_trait;
use sqlx::Row as _;

use crate::accounts::{AccountError, AccountId};
use crate::clock::UnixMillis;
use crate::db::Db;
use crate::group_commit::WriteFuture;

/// One sign-in of one account at one client, and what its tokens carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Family id.
    pub id: String,
    /// The account (token `sub`).
    pub account_id: AccountId,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scope, space separated.
    pub scope: String,
    /// When the person authenticated (seconds); `None` when the upstream did not say.
    pub auth_time: Option<i64>,
    /// Issuer of the identity used.
    pub idp: String,
    /// Authentication methods, space separated.
    pub amr: String,
    /// The browser session it came from (its public name, the `sid` claim).
    pub sid: String,
    /// The identity the person signed in with; it must still be able to sign in at every
    /// refresh (`None`: a grant from before braid recorded it, refused).
    pub identity_id: Option<i64>,
    /// The provider that identity came through; it must still be enabled.
    pub provider_id: Option<String>,
    /// The session store key of the browser session: a grant without `offline_access` ends with it.
    pub session_key: Option<String>,
    /// Created (ms).
    pub created_at: UnixMillis,
    /// End of the family (ms).
    pub expires_at: UnixMillis,
    /// Revoked (ms), if so.
    pub revoked_at: Option<UnixMillis>,
    // Authorization request parameters (issue 14).
    /// The upstream's `acr` for the sign-in, repeated in every ID token of the grant.
    pub acr: Option<String>,
    /// The claims asked for by the `claims` request parameter, answered for the grant's life.
    pub claims: super::claims_request::ClaimsRequest,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Accepted: the old token is spent and the new one stored.
    Rotated(Grant),
    /// A spent token came back: the whole family is now revoked.
    Replayed(Grant),
    /// The family is revoked or expired.
    Dead(Grant),
    /// The token belongs to another client; nothing changed.
    WrongClient,
    /// No such token.
    Unknown,
}

/// Durable home of grants.
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Store a new grant with its first refresh token (by hash).
    async fn create(&self, grant: &Grant, refresh_hash: &str) -> Result<(), AccountError>;
    /// Spend `old_hash` for `client_id` and store `new_hash` in its place, atomically. A token
    /// spent less than `grace_ms` ago whose successor was never used is a retry of a rotation
    /// whose answer the client did not receive: its successor is spent and `new_hash` stored
    /// instead (`Rotated`). Any other spent token is a replay.
    async fn rotate(
        &self,
        old_hash: &str,
        new_hash: &str,
        client_id: &str,
        now: UnixMillis,
        grace_ms: i64,
    ) -> Result<Rotation, AccountError>;
    /// A grant by id.
    async fn get(&self, id: &str) -> Result<Option<Grant>, AccountError>;
    /// The grant a refresh token belongs to.
    async fn by_token(&self, hash: &str) -> Result<Option<Grant>, AccountError>;
    /// The grant a refresh token belongs to, and whether that token was already spent (rotated).
    async fn by_token_state(&self, hash: &str) -> Result<Option<(Grant, bool)>, AccountError>;
    /// Revoke one grant.
    async fn revoke(&self, id: &str, now: UnixMillis) -> Result<(), AccountError>;
    /// Revoke the grants issued to one browser session (at logout), except offline ones (scope
    /// `offline_access`), which outlive the session by design; returns how many were live. The
    /// back-channel logout tokens owed to the clients of the session are written first.
    async fn revoke_session(&self, sid: &str, now: UnixMillis) -> Result<u64, AccountError>;
    /// The clients that got tokens in browser session `sid` (its public name), in id order.
    async fn clients_of_session(&self, sid: &str) -> Result<Vec<String>, AccountError>;
    /// Revoke every grant of an account, after writing the back-channel logout tokens owed for
    /// its sessions; returns how many were live.
    async fn revoke_account(&self, account: &AccountId, now: UnixMillis) -> Result<u64, AccountError>;
    /// The live grants (not revoked, not expired at `now`) of an account, newest first.
    async fn live_for_account(&self, account: &AccountId, now: UnixMillis) -> Result<Vec<Grant>, AccountError>;
}

/// The columns of a grant, in `g.` form, as [`grant_from_row`] reads them.
macro_rules! grant_columns {
    () => {
        "g.id, g.account_id, g.client_id, g.scope, g.auth_time, g.idp, g.amr, g.sid, \
         g.created_at, g.expires_at, g.revoked_at, g.identity_id, g.provider_id, g.session_key, \
         g.acr, g.request_claims"
    };
}

fn grant_from_row(row: &sqlx::any::AnyRow) -> Result<Grant, AccountError> {
    let get = |e: sqlx::Error| AccountError::Corrupt(e.to_string());
    Ok(Grant {
        id: row.try_get("id").map_err(get)?,
        account_id: AccountId(row.try_get("account_id").map_err(get)?),
        client_id: row.try_get("client_id").map_err(get)?,
        scope: row.try_get("scope").map_err(get)?,
        auth_time: Some(row.try_get::<i64, _>("auth_time").map_err(get)?).filter(|t| *t > 0),
        idp: row.try_get("idp").map_err(get)?,
        amr: row.try_get("amr").map_err(get)?,
        sid: row.try_get("sid").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        revoked_at: row.try_get("revoked_at").map_err(get)?,
        identity_id: row.try_get("identity_id").map_err(get)?,
        provider_id: row.try_get("provider_id").map_err(get)?,
        session_key: row.try_get("session_key").map_err(get)?,
        acr: row.try_get("acr").map_err(get)?,
        claims: match row.try_get::<Option<String>, _>("request_claims").map_err(get)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| AccountError::Corrupt(e.to_string()))?,
            None => Default::default(),
        },
    })
}

// The hot statements, named so `tests/api/query_plans.rs` can check that each uses an index.

/// The columns a new grant is stored with, and their parameters.
macro_rules! insert_grant {
    () => {
        "INSERT INTO grants (id, account_id, client_id, scope, auth_time, idp, amr, sid, \
         created_at, expires_at, identity_id, provider_id, session_key, acr, request_claims) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    };
}
/// Store a new grant (code redemption).
pub const INSERT_GRANT: &str = insert_grant!();
/// Store a new grant and its first refresh token (`$16`) in one statement (PostgreSQL: one
/// round trip, atomic as any single statement).
pub const INSERT_GRANT_AND_REFRESH: &str = concat!(
    "WITH g AS (",
    insert_grant!(),
    " RETURNING id) INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT $16, g.id, $9 FROM g"
);
/// Store a refresh token of a grant (code redemption and rotation).
pub const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (hash, grant_id, created_at) VALUES ($1, $2, $3)";
/// The grant a refresh token belongs to.
pub const BY_TOKEN: &str =
    concat!("SELECT ", grant_columns!(), " FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = $1");
/// The grant a refresh token belongs to, and when the token was spent.
pub const BY_TOKEN_STATE: &str = concat!(
    "SELECT ",
    grant_columns!(),
    ", t.used_at AS used_at FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = $1"
);
/// A grant by id.
pub const BY_ID: &str = concat!("SELECT ", grant_columns!(), " FROM grants g WHERE g.id = $1");
/// When a spent token was spent and what replaced it (a retried rotation).
pub const SPENT_STATE: &str = "SELECT used_at, replaced_by FROM refresh_tokens WHERE hash = $1";
/// Spend a refresh token by hash, whatever its client (the successor of a retried rotation).
pub const SPEND: &str = "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL";
/// Remember the token that replaced a spent one.
pub const SET_REPLACED_BY: &str = "UPDATE refresh_tokens SET replaced_by = $1 WHERE hash = $2";
/// Revoke one grant.
pub const REVOKE: &str = "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
/// Revoke the grants of a browser session, except offline ones.
pub const REVOKE_SESSION: &str = "UPDATE grants SET revoked_at = $1 WHERE sid = $2 AND revoked_at IS NULL \
     AND ' ' || scope || ' ' NOT LIKE '% offline_access %'";
/// Revoke every grant of an account.
pub const REVOKE_ACCOUNT: &str = "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL";
/// The live grants of an account, newest first.
pub const LIVE_FOR_ACCOUNT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants g WHERE g.account_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 ORDER BY g.created_at DESC"
);

/// Spend a refresh token of one client. The client check looks up the token's own grant by its
/// primary key (a correlated EXISTS), never every grant of the client: it stays one index probe
/// however many grants there are.
pub const ROTATE_SPEND: &str = "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL \
     AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.client_id = $3)";

/// Whether spent token `old_hash` may be rotated again: it was spent less than `grace_ms`
/// before `now` and the token that replaced it was never used. That successor is then spent
/// (the client never received it), so one unused token remains per grant.
async fn retry_within_grace(
    conn: &mut sqlx::AnyConnection,
    old_hash: &str,
    now: UnixMillis,
    grace_ms: i64,
) -> Result<bool, AccountError> {
    let row: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as(SPENT_STATE).bind(old_hash).fetch_optional(&mut *conn).await.map_err(unavailable)?;
    let Some((Some(used_at), Some(successor))) = row else { return Ok(false) };
    if now - used_at > grace_ms {
        return Ok(false);
    }
    let spent =
        sqlx::query(SPEND).bind(now).bind(&successor).execute(&mut *conn).await.map_err(unavailable)?.rows_affected();
    Ok(spent == 1)
}

/// Bind grant `g`'s columns to `INSERT_GRANT`'s parameters, in order.
fn bind_grant<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    g: &'q Grant,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, AccountError> {
    // The claims asked for are stored only when there are some (NULL reads back as none).
    let claims = match g.claims.is_empty() {
        true => None,
        false => Some(serde_json::to_string(&g.claims).map_err(|e| AccountError::Corrupt(e.to_string()))?),
    };
    Ok(q.bind(&g.id)
        .bind(g.account_id.as_str())
        .bind(&g.client_id)
        .bind(&g.scope)
        .bind(g.auth_time.unwrap_or(0))
        .bind(&g.idp)
        .bind(&g.amr)
        .bind(&g.sid)
        .bind(g.created_at)
        .bind(g.expires_at)
        .bind(g.identity_id)
        .bind(&g.provider_id)
        .bind(&g.session_key)
        .bind(&g.acr)
        .bind(claims))
}

/// Store grant `g` and its first refresh token inside the caller's transaction `conn`.
pub(crate) async fn create_in(
    conn: &mut sqlx::AnyConnection,
    g: &Grant,
    refresh_hash: &str,
) -> Result<(), AccountError> {
    bind_grant(sqlx::query(INSERT_GRANT), g)?.execute(&mut *conn).await.map_err(unavailable)?;
    sqlx::query(INSERT_REFRESH)
        .bind(refresh_hash)
        .bind(&g.id)
        .bind(g.created_at)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// A refresh token to rotate: the presented token's hash, its successor's, the client
/// presenting it, the time and the grace for a retried rotation.
#[derive(Debug)]
pub(crate) struct RotateJob {
    pub(crate) old_hash: String,
    pub(crate) new_hash: String,
    pub(crate) client_id: String,
    pub(crate) now: UnixMillis,
    pub(crate) grace_ms: i64,
}

/// Rotate `job`'s token inside the caller's transaction `conn`. An outcome that changes
/// nothing (unknown token, another client's) writes nothing, so the transaction may commit
/// whatever the outcome; an `Err` leaves it to be rolled back.
pub(crate) async fn rotate_in(conn: &mut sqlx::AnyConnection, job: &RotateJob) -> Result<Rotation, AccountError> {
    let RotateJob { old_hash, new_hash, client_id, now, grace_ms } = job;
    let (now, grace_ms) = (*now, *grace_ms);
    // The write comes first: it takes SQLite's write lock, and only one concurrent caller can
    // flip `used_at` from NULL. It is bound to the client, so another client's token is never
    // spent.
    let spent = sqlx::query(ROTATE_SPEND)
        .bind(now)
        .bind(old_hash)
        .bind(client_id)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?
        .rows_affected();
    let row = sqlx::query(BY_TOKEN).bind(old_hash).fetch_optional(&mut *conn).await.map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(Rotation::Unknown);
    };
    let grant = grant_from_row(&row)?;
    if &grant.client_id != client_id {
        return Ok(Rotation::WrongClient);
    }
    let live = grant.revoked_at.is_none() && grant.expires_at > now;
    let retried = if spent == 0 && live && grace_ms > 0 {
        retry_within_grace(&mut *conn, old_hash, now, grace_ms).await?
    } else {
        false
    };
    Ok(if spent == 0 && !retried {
        sqlx::query(REVOKE).bind(now).bind(&grant.id).execute(&mut *conn).await.map_err(unavailable)?;
        Rotation::Replayed(grant)
    } else if grant.revoked_at.is_some() || grant.expires_at <= now {
        Rotation::Dead(grant)
    } else {
        sqlx::query(INSERT_REFRESH)
            .bind(new_hash)
            .bind(&grant.id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        sqlx::query(SET_REPLACED_BY).bind(new_hash).bind(old_hash).execute(&mut *conn).await.map_err(unavailable)?;
        Rotation::Rotated(grant)
    })
}

/// `GrantStore` over the SQL database.
#[derive(Debug, Clone)]
pub struct SqlGrantStore {
    db: Db,
}

impl SqlGrantStore {
    /// Use `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// [`create_in`] as a group-commit write.
fn create_write<'c>(input: &'c (Grant, String), conn: &'c mut sqlx::AnyConnection) -> WriteFuture<'c, ()> {
    Box::pin(create_in(conn, &input.0, &input.1))
}

/// [`rotate_in`] as a group-commit write.
fn rotate_write<'c>(job: &'c RotateJob, conn: &'c mut sqlx::AnyConnection) -> WriteFuture<'c, Rotation> {
    Box::pin(rotate_in(conn, job))
}

fn unavailable(e: sqlx::Error) -> AccountError {
    crate::metrics::store_error("sql");
    AccountError::Unavailable(e.to_string())
}

#[async_trait]
impl GrantStore for SqlGrantStore {
    async fn create(&self, g: &Grant, refresh_hash: &str) -> Result<(), AccountError> {
        if self.db.backend == crate::db::Backend::Sqlite {
            // Committed in a group with other grant writes (see `group_commit`).
            return self.db.writer.write(&self.db, (g.clone(), refresh_hash.to_owned()), create_write).await;
        }
        // PostgreSQL: one statement, so one round trip and no transaction to open and commit.
        let q = bind_grant(sqlx::query(INSERT_GRANT_AND_REFRESH), g)?.bind(refresh_hash);
        let stored = q.execute(&self.db.pool).await.map_err(unavailable)?.rows_affected();
        match stored {
            1 => Ok(()),
            n => Err(AccountError::Unavailable(format!("a new grant stored {n} refresh tokens"))),
        }
    }

    async fn rotate(
        &self,
        old_hash: &str,
        new_hash: &str,
        client_id: &str,
        now: UnixMillis,
        grace_ms: i64,
    ) -> Result<Rotation, AccountError> {
        let job = RotateJob {
            old_hash: old_hash.to_owned(),
            new_hash: new_hash.to_owned(),
            client_id: client_id.to_owned(),
            now,
            grace_ms,
        };
        if self.db.backend == crate::db::Backend::Sqlite {
            // SQLite has one writer at a time and (by default) an fsync per commit: rotations
            // are committed in groups by one writer task.
            return self.db.writer.write(&self.db, job, rotate_write).await;
        }
        let mut tx = self.db.pool.begin().await.map_err(unavailable)?;
        let outcome = rotate_in(&mut tx, &job).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }

    async fn get(&self, id: &str) -> Result<Option<Grant>, AccountError> {
        let row = sqlx::query(BY_ID).bind(id).fetch_optional(&self.db.pool).await.map_err(unavailable)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn by_token(&self, hash: &str) -> Result<Option<Grant>, AccountError> {
        let row = sqlx::query(BY_TOKEN).bind(hash).fetch_optional(&self.db.pool).await.map_err(unavailable)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn by_token_state(&self, hash: &str) -> Result<Option<(Grant, bool)>, AccountError> {
        let row = sqlx::query(BY_TOKEN_STATE).bind(hash).fetch_optional(&self.db.pool).await.map_err(unavailable)?;
        match row {
            Some(r) => {
                let used: Option<i64> = r.try_get("used_at").map_err(|e| AccountError::Corrupt(e.to_string()))?;
                Ok(Some((grant_from_row(&r)?, used.is_some())))
            }
            None => Ok(None),
        }
    }

    async fn revoke(&self, id: &str, now: UnixMillis) -> Result<(), AccountError> {
        sqlx::query(REVOKE).bind(now).bind(id).execute(&self.db.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn revoke_session(&self, sid: &str, now: UnixMillis) -> Result<u64, AccountError> {
        let mut tx = self.db.pool.begin().await.map_err(unavailable)?;
        // The applications that got tokens in the session are told, in the same transaction.
        crate::notify::logout_outbox::enqueue(&mut tx, crate::notify::logout_outbox::Ended::Session(sid), now)
            .await
            .map_err(unavailable)?;
        let n = sqlx::query(REVOKE_SESSION)
            .bind(now)
            .bind(sid)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        tx.commit().await.map_err(unavailable)?;
        Ok(n)
    }

    async fn clients_of_session(&self, sid: &str) -> Result<Vec<String>, AccountError> {
        let rows = sqlx::query("SELECT DISTINCT client_id FROM grants WHERE sid = $1 ORDER BY client_id")
            .bind(sid)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(|r| r.try_get("client_id").map_err(|e| AccountError::Corrupt(e.to_string()))).collect()
    }

    async fn live_for_account(&self, account: &AccountId, now: UnixMillis) -> Result<Vec<Grant>, AccountError> {
        let rows = sqlx::query(LIVE_FOR_ACCOUNT)
            .bind(account.as_str())
            .bind(now)
            .fetch_all(&self.db.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_account(&self, account: &AccountId, now: UnixMillis) -> Result<u64, AccountError> {
        let mut tx = self.db.pool.begin().await.map_err(unavailable)?;
        crate::notify::logout_outbox::enqueue(&mut tx, crate::notify::logout_outbox::Ended::Sessions(account), now)
            .await
            .map_err(unavailable)?;
        let n = sqlx::query(REVOKE_ACCOUNT)
            .bind(now)
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        tx.commit().await.map_err(unavailable)?;
        Ok(n)
    }
}
