//! SQL `AccountStore` over SQLite and PostgreSQL, through the `sqlx` Any pool of [`Db`].
//!
//! Uniqueness of (issuer, subject) is the unique index `identities_issuer_subject`; a first
//! sign-in inserts with `ON CONFLICT DO NOTHING` and whoever gets no row back lost the race and
//! reads the winner's identity. Nothing is decided by a read followed by a write.
//!
//! Any-driver rules kept here: flags are stored as 0/1 and read as `i64`, times are `i64`
//! milliseconds, claims are JSON text, placeholders are `$1, $2, …`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Account, AccountError, AccountId, AccountStatus, AccountStore, Actor, AuditEvent, ExternalIdentity, Identity,
    LinkOutcome, Refusal, Resolved, SignInProviders,
};
use crate::clock::UnixMillis;
use crate::db::{Backend, Db};

/// The columns of `identities`, in the order [`identity_from_row`] reads them.
macro_rules! identity_columns {
    () => {
        "id, issuer, subject, provider_id, account_id, email, email_verified, name, \
         can_sign_in, linked_at, last_login_at, last_claims"
    };
}

/// The columns of `accounts` that make an [`Account`].
macro_rules! account_columns {
    () => {
        "id, status, primary_identity, created_at, sessions_valid_after"
    };
}

// The hot statements, named so `tests/api/query_plans.rs` can check that each uses an index.

/// Record a login of a known identity (by the unique (issuer, subject) index).
pub const RECORD_LOGIN: &str = concat!(
    "UPDATE identities SET provider_id = $1, email = $2, email_verified = $3, name = $4, \
     last_login_at = $5, last_claims = $6 WHERE issuer = $7 AND subject = $8 RETURNING ",
    identity_columns!()
);
/// An identity by (issuer, subject).
pub const IDENTITY_BY_KEY: &str =
    concat!("SELECT ", identity_columns!(), " FROM identities WHERE issuer = $1 AND subject = $2");
/// An identity by id (the trust re-check at every refresh and single sign-on).
pub const IDENTITY_BY_ID: &str = concat!("SELECT ", identity_columns!(), " FROM identities WHERE id = $1");
/// An account by id (sign-in, the trust re-check, `sessions_valid_after`).
pub const ACCOUNT_BY_ID: &str = concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1");
/// The identities of an account.
pub const IDENTITIES_OF: &str =
    concat!("SELECT ", identity_columns!(), " FROM identities WHERE account_id = $1 ORDER BY linked_at, id");
/// An account (columns prefixed `a_`) with its identities, one row per identity (one row of
/// NULL identity columns when it has none).
pub const ACCOUNT_WITH_IDENTITIES: &str = "SELECT a.id AS a_id, a.status AS a_status, a.primary_identity AS a_primary_identity, \
     a.created_at AS a_created_at, a.sessions_valid_after AS a_sessions_valid_after, \
     i.id, i.issuer, i.subject, i.provider_id, i.account_id, i.email, i.email_verified, i.name, \
     i.can_sign_in, i.linked_at, i.last_login_at, i.last_claims \
     FROM accounts a LEFT JOIN identities i ON i.account_id = a.id WHERE a.id = $1 ORDER BY i.linked_at, i.id";
/// The audit row of a sign-in.
pub const AUDIT_SIGN_IN: &str = "INSERT INTO audit_events (at, actor, ip, action, account_id, issuer, subject) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A known user's sign-in on PostgreSQL in one statement (one round trip, one commit): the
/// last-login update, the account, and — only when the identity may sign in and the account is
/// active — the `identity.signed_in` audit row from `$9`.
pub const SIGN_IN_AUDITED: &str = concat!(
    "WITH u AS (UPDATE identities SET provider_id = $1, email = $2, email_verified = $3, name = $4, \
     last_login_at = $5, last_claims = $6 WHERE issuer = $7 AND subject = $8 RETURNING ",
    identity_columns!(),
    "), a AS (SELECT a.id AS a_id, a.status AS a_status, a.primary_identity AS a_primary_identity, \
     a.created_at AS a_created_at, a.sessions_valid_after AS a_sessions_valid_after \
     FROM accounts a WHERE a.id = (SELECT account_id FROM u)), \
     w AS (INSERT INTO audit_events (at, actor, ip, action, account_id, issuer, subject) \
     SELECT $5, 'account:' || u.account_id, $9, 'identity.signed_in', u.account_id, u.issuer, u.subject \
     FROM u JOIN a ON a.a_id = u.account_id WHERE u.can_sign_in = 1 AND a.a_status = 'active' RETURNING id) \
     SELECT u.*, a.*, (SELECT count(*) FROM w) AS audited FROM u LEFT JOIN a ON a.a_id = u.account_id"
);

/// How often `resolve_or_create` goes round "record login / try to create" before giving up.
/// A second round only happens when a concurrent request created the identity and it was
/// removed again before this one could read it.
const ATTEMPTS: usize = 3;

/// The account store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlAccountStore {
    db: Db,
    /// Changes this process has committed (see `AccountStore::changes`).
    changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SqlAccountStore {
    /// A store over an open (and migrated) database.
    pub fn new(db: Db) -> Self {
        Self { db, changes: std::sync::Arc::default() }
    }

    /// Count one committed change of `kind` (its audit action), after its commit, so a reader
    /// that sees the new count reads the change.
    pub(super) fn changed(&self, kind: &'static str) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        crate::metrics::account_change(kind);
    }

    /// The database underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Record a sign-in with a known identity in one `UPDATE`: what the upstream said this time
    /// (provider, email, verified flag, name, claims) and when. `None` if the identity is unknown.
    async fn record_login(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        claims: &str,
        now: UnixMillis,
    ) -> Result<Option<Identity>, AccountError> {
        let row = bind_login(sqlx::query(RECORD_LOGIN), provider_id, ext, claims, now)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    /// A known identity's sign-in: the last-login update and its account, and with `audit`
    /// (`Some(ip)`) the `identity.signed_in` row when the sign-in is allowed, all in one commit
    /// (one statement on PostgreSQL, one transaction on SQLite). `None` if the identity is unknown.
    async fn login_known(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        claims: &str,
        audit: Option<Option<&str>>,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError> {
        let Some(ip) = audit else {
            let Some(identity) = self.record_login(provider_id, ext, claims, now).await? else { return Ok(None) };
            let account = self.account_of(&identity).await?;
            return Ok(Some(Resolved { account, identity, created: false, audited: false }));
        };
        if self.db.backend == Backend::Postgres {
            let row = bind_login(sqlx::query(SIGN_IN_AUDITED), provider_id, ext, claims, now)
                .bind(ip)
                .fetch_optional(&self.db.pool)
                .await
                .map_err(unavailable)?;
            let Some(row) = row else { return Ok(None) };
            let identity = identity_from_row(&row)?;
            let account = prefixed_account_from_row(&row, &identity)?;
            let audited = row.try_get::<i64, _>("audited").map_err(corrupt)? > 0;
            return Ok(Some(Resolved { account, identity, created: false, audited }));
        }
        // SQLite: committed in a group with the other hot writes waiting (see `group_commit`).
        let login = KnownLogin {
            provider_id: provider_id.to_owned(),
            ext: ext.clone(),
            claims: claims.to_owned(),
            ip: ip.map(str::to_owned),
            now,
        };
        self.db.writer.write(&self.db, login, known_login_write).await
    }

    /// Resolve (and with `create`, make) the identity's account; see `AccountStore::sign_in`.
    async fn sign_in_impl(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        create: bool,
        audit: Option<Option<&str>>,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError> {
        let claims = serde_json::to_string(&ext.claims)
            .map_err(|e| AccountError::Corrupt(format!("claims do not serialise: {e}")))?;
        for _ in 0..ATTEMPTS {
            if let Some(resolved) = self.login_known(provider_id, ext, &claims, audit, now).await? {
                return Ok(Some(resolved));
            }
            if !create {
                return Ok(None);
            }
            if let Some(resolved) = self.try_create(provider_id, ext, &claims, audit, now).await? {
                return Ok(Some(resolved));
            }
            // Lost the race: the winner's identity is committed; the next round records this
            // login on it.
        }
        Err(AccountError::Unavailable("identity kept changing during sign-in; try again".into()))
    }

    /// Make a new account with `ext` as its primary identity, in one transaction. `None` if the
    /// identity already exists (another request made it first); nothing is written then.
    async fn try_create(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        claims: &str,
        audit: Option<Option<&str>>,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError> {
        let account_id = AccountId::generate();
        let status = AccountStatus::Active;
        let mut tx = self.db.pool.begin().await.map_err(unavailable)?;
        // The first statement is a write, so SQLite takes its write lock now (waiting out the
        // busy timeout) instead of failing later on a lock upgrade from a stale read snapshot.
        sqlx::query(
            "INSERT INTO accounts (id, status, primary_identity, created_at, updated_at) \
             VALUES ($1, $2, NULL, $3, $3)",
        )
        .bind(account_id.as_str())
        .bind(status.to_db())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let Some(identity) = insert_identity(&mut tx, &account_id, provider_id, ext, claims, now, Some(now)).await?
        else {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(None);
        };
        let identity_id = identity.id;
        sqlx::query("UPDATE accounts SET primary_identity = $1, updated_at = $2 WHERE id = $3")
            .bind(identity_id)
            .bind(now)
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        // A new identity may sign in and its account is active: the sign-in is allowed.
        if let Some(ip) = audit {
            insert_sign_in_audit(&mut tx, &identity, ip, now).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        let account = Account {
            id: account_id,
            status,
            primary_identity: Some(identity_id),
            created_at: now,
            sessions_valid_after: 0,
        };
        Ok(Some(Resolved { account, identity, created: true, audited: audit.is_some() }))
    }

    /// The identity keyed by (issuer, subject).
    pub(super) async fn find_identity_impl(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Identity>, AccountError> {
        let row = sqlx::query(IDENTITY_BY_KEY)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    /// An identity by its store id.
    pub async fn identity_by_id(&self, id: i64) -> Result<Option<Identity>, AccountError> {
        let row = sqlx::query(IDENTITY_BY_ID).bind(id).fetch_optional(&self.db.pool).await.map_err(unavailable)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn account_ids(&self, sql: &str, email: &str) -> Result<Vec<AccountId>, AccountError> {
        let rows = sqlx::query(sql).bind(email).fetch_all(&self.db.pool).await.map_err(unavailable)?;
        rows.iter().map(|r| r.try_get::<String, _>("account_id").map(AccountId).map_err(corrupt)).collect()
    }

    /// The account an identity points at; its absence is corrupt data (the foreign key
    /// cascades deletes).
    async fn account_of(&self, identity: &Identity) -> Result<Account, AccountError> {
        self.account(&identity.account_id).await?.ok_or_else(|| missing_account(identity))
    }
}

#[async_trait]
impl AccountStore for SqlAccountStore {
    fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn search(
        &self,
        q: &super::AccountQuery,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Account>, AccountError> {
        self.search_impl(q, after, limit).await
    }

    async fn audit_page(
        &self,
        q: &super::AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AccountError> {
        self.audit_page_impl(q, before, limit).await
    }

    async fn find_identity(&self, issuer: &str, subject: &str) -> Result<Option<Identity>, AccountError> {
        self.find_identity_impl(issuer, subject).await
    }

    async fn resolve_or_create(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        now: UnixMillis,
    ) -> Result<Resolved, AccountError> {
        self.sign_in_impl(provider_id, ext, true, None, now)
            .await?
            .ok_or_else(|| AccountError::Unavailable("identity kept changing during sign-in; try again".into()))
    }

    async fn sign_in_known(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError> {
        self.sign_in_impl(provider_id, ext, false, None, now).await
    }

    async fn sign_in(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        create: bool,
        audit: bool,
        ip: Option<&str>,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError> {
        self.sign_in_impl(provider_id, ext, create, audit.then_some(ip), now).await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, AccountError> {
        let row =
            sqlx::query(ACCOUNT_BY_ID).bind(id.as_str()).fetch_optional(&self.db.pool).await.map_err(unavailable)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn identity(&self, id: i64) -> Result<Option<Identity>, AccountError> {
        self.identity_by_id(id).await
    }

    async fn identities(&self, id: &AccountId) -> Result<Vec<Identity>, AccountError> {
        let rows = sqlx::query(IDENTITIES_OF).bind(id.as_str()).fetch_all(&self.db.pool).await.map_err(unavailable)?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn account_with_identities(&self, id: &AccountId) -> Result<Option<(Account, Vec<Identity>)>, AccountError> {
        let rows = sqlx::query(ACCOUNT_WITH_IDENTITIES)
            .bind(id.as_str())
            .fetch_all(&self.db.pool)
            .await
            .map_err(unavailable)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let account = prefixed_account_columns(first)?;
        let mut identities = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<i64>, _>("id").map_err(corrupt)?.is_some() {
                identities.push(identity_from_row(row)?);
            }
        }
        Ok(Some((account, identities)))
    }

    async fn ping(&self) -> Result<(), AccountError> {
        self.db.ping().await.map_err(unavailable)
    }

    async fn link(
        &self,
        account: &AccountId,
        provider_id: &str,
        ext: &ExternalIdentity,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<LinkOutcome, AccountError> {
        self.link_impl(account, provider_id, ext, actor, now).await
    }

    async fn unlink(
        &self,
        account: &AccountId,
        identity: i64,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<Identity, Refusal>, AccountError> {
        self.unlink_impl(account, identity, usable, actor, now).await
    }

    async fn update_identity(
        &self,
        account: &AccountId,
        identity: i64,
        can_sign_in: Option<bool>,
        primary: bool,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        self.update_identity_impl(account, identity, can_sign_in, primary, usable, actor, now).await
    }

    async fn account_version(&self, id: &AccountId) -> Result<Option<i64>, AccountError> {
        let row = sqlx::query("SELECT version FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<i64, _>("version").map_err(unavailable)).transpose()
    }

    async fn move_identity(
        &self,
        identity: i64,
        to: &AccountId,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<AccountId, Refusal>, AccountError> {
        self.move_impl(identity, to, usable, actor, now).await
    }

    async fn merge(
        &self,
        from: &AccountId,
        into: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<usize, Refusal>, AccountError> {
        self.merge_impl(from, into, actor, now).await
    }

    async fn set_disabled(
        &self,
        account: &AccountId,
        disabled: bool,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        self.set_disabled_impl(account, disabled, actor, now).await
    }

    async fn delete(
        &self,
        account: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        self.delete_impl(account, actor, now).await
    }

    async fn accounts_with_verified_email(&self, email: &str) -> Result<Vec<AccountId>, AccountError> {
        self.account_ids(
            "SELECT DISTINCT i.account_id FROM identities i JOIN accounts a ON a.id = i.account_id \
             WHERE lower(i.email) = lower($1) AND i.email_verified = 1 AND a.status = 'active' ORDER BY i.account_id",
            email,
        )
        .await
    }

    async fn accounts_with_email(&self, email: &str) -> Result<Vec<AccountId>, AccountError> {
        self.account_ids(
            "SELECT DISTINCT account_id FROM identities WHERE lower(email) = lower($1) ORDER BY account_id",
            email,
        )
        .await
    }

    async fn audit_admin_call(
        &self,
        actor: &Actor,
        action: &str,
        account: Option<&AccountId>,
        target: &str,
        now: UnixMillis,
    ) -> Result<(), AccountError> {
        sqlx::query(
            "INSERT INTO audit_events (at, actor, ip, action, account_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(actor.who.as_str())
        .bind(actor.ip.as_deref())
        .bind(action)
        .bind(account.map_or("", AccountId::as_str))
        .bind(serde_json::json!({ "target": target }).to_string())
        .execute(&self.db.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_sign_in(&self, identity: &Identity, ip: Option<&str>, now: UnixMillis) -> Result<(), AccountError> {
        let mut conn = self.db.pool.acquire().await.map_err(unavailable)?;
        insert_sign_in_audit(&mut conn, identity, ip, now).await
    }

    async fn audit(&self, account: &AccountId) -> Result<Vec<AuditEvent>, AccountError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, ip, action, account_id, other_account_id, issuer, subject, detail FROM audit_events \
             WHERE account_id = $1 OR other_account_id = $1 ORDER BY id",
        )
        .bind(account.as_str())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get("id").map_err(corrupt)?,
                    at: r.try_get("at").map_err(corrupt)?,
                    actor: r.try_get("actor").map_err(corrupt)?,
                    ip: r.try_get("ip").map_err(corrupt)?,
                    action: r.try_get("action").map_err(corrupt)?,
                    account_id: r.try_get("account_id").map_err(corrupt)?,
                    other_account_id: r.try_get("other_account_id").map_err(corrupt)?,
                    issuer: r.try_get("issuer").map_err(corrupt)?,
                    subject: r.try_get("subject").map_err(corrupt)?,
                    target: super::audit_target(&r.try_get::<String, _>("detail").map_err(corrupt)?),
                })
            })
            .collect()
    }
}

/// Insert `ext` as an identity of `account` unless (issuer, subject) exists; `None` then. The
/// unique index decides, never a read before the write.
pub(super) async fn insert_identity(
    conn: &mut sqlx::AnyConnection,
    account: &AccountId,
    provider_id: &str,
    ext: &ExternalIdentity,
    claims: &str,
    now: UnixMillis,
    last_login_at: Option<UnixMillis>,
) -> Result<Option<Identity>, AccountError> {
    let row = sqlx::query(concat!(
        "INSERT INTO identities (issuer, subject, provider_id, account_id, email, email_verified, name, \
         can_sign_in, linked_at, last_login_at, last_claims) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10) \
         ON CONFLICT (issuer, subject) DO NOTHING RETURNING ",
        identity_columns!()
    ))
    .bind(&ext.issuer)
    .bind(&ext.subject)
    .bind(provider_id)
    .bind(account.as_str())
    .bind(ext.email.as_deref())
    .bind(i64::from(ext.email_verified))
    .bind(ext.name.as_deref())
    .bind(now)
    .bind(last_login_at)
    .bind(claims)
    .fetch_optional(conn)
    .await
    .map_err(unavailable)?;
    row.as_ref().map(identity_from_row).transpose()
}

/// A known identity's audited sign-in on SQLite, as a group-commit write.
struct KnownLogin {
    provider_id: String,
    ext: ExternalIdentity,
    claims: String,
    ip: Option<String>,
    now: UnixMillis,
}

fn known_login_write<'c>(
    login: &'c KnownLogin,
    conn: &'c mut sqlx::AnyConnection,
) -> crate::group_commit::WriteFuture<'c, Option<Resolved>> {
    Box::pin(known_login_in(conn, login))
}

/// Record `login` on its identity and write its audit row when the sign-in is allowed, inside
/// the caller's transaction. `None` (nothing written) when the identity is unknown. The update
/// comes first, so the transaction holds SQLite's write lock throughout.
async fn known_login_in(conn: &mut sqlx::AnyConnection, login: &KnownLogin) -> Result<Option<Resolved>, AccountError> {
    let row = bind_login(sqlx::query(RECORD_LOGIN), &login.provider_id, &login.ext, &login.claims, login.now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
    let Some(row) = row else { return Ok(None) };
    let identity = identity_from_row(&row)?;
    let account = sqlx::query(ACCOUNT_BY_ID)
        .bind(identity.account_id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(account_from_row)
        .transpose()?
        .ok_or_else(|| missing_account(&identity))?;
    let audited = identity.can_sign_in && account.status == AccountStatus::Active;
    if audited {
        insert_sign_in_audit(conn, &identity, login.ip.as_deref(), login.now).await?;
    }
    Ok(Some(Resolved { account, identity, created: false, audited }))
}

/// Bind the parameters `$1`–`$8` of [`RECORD_LOGIN`] (and [`SIGN_IN_AUDITED`]).
fn bind_login<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    provider_id: &'q str,
    ext: &'q ExternalIdentity,
    claims: &'q str,
    now: UnixMillis,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(provider_id)
        .bind(ext.email.as_deref())
        .bind(i64::from(ext.email_verified))
        .bind(ext.name.as_deref())
        .bind(now)
        .bind(claims)
        .bind(ext.issuer.as_str())
        .bind(ext.subject.as_str())
}

/// Write the `identity.signed_in` audit row of a sign-in with `identity`.
async fn insert_sign_in_audit(
    conn: &mut sqlx::AnyConnection,
    identity: &Identity,
    ip: Option<&str>,
    now: UnixMillis,
) -> Result<(), AccountError> {
    sqlx::query(AUDIT_SIGN_IN)
        .bind(now)
        .bind(format!("account:{}", identity.account_id))
        .bind(ip)
        .bind("identity.signed_in")
        .bind(identity.account_id.as_str())
        .bind(identity.issuer.as_str())
        .bind(identity.subject.as_str())
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// An identity whose account is missing: corrupt data (the foreign key cascades deletes).
fn missing_account(identity: &Identity) -> AccountError {
    AccountError::Corrupt(format!("identity {} points at missing account {}", identity.id, identity.account_id))
}

/// The account columns of a [`SIGN_IN_AUDITED`] row (prefixed `a_`).
fn prefixed_account_from_row(row: &AnyRow, identity: &Identity) -> Result<Account, AccountError> {
    if row.try_get::<Option<String>, _>("a_id").map_err(corrupt)?.is_none() {
        return Err(missing_account(identity));
    }
    prefixed_account_columns(row)
}

/// The account columns of a row that has them (prefixed `a_`).
fn prefixed_account_columns(row: &AnyRow) -> Result<Account, AccountError> {
    let id: String = row.try_get("a_id").map_err(corrupt)?;
    account_columns_from_row(row, ["a_status", "a_primary_identity", "a_created_at", "a_sessions_valid_after"], id)
}

/// Decode an `accounts` row.
pub(super) fn account_from_row(row: &AnyRow) -> Result<Account, AccountError> {
    let id: String = row.try_get("id").map_err(corrupt)?;
    account_columns_from_row(row, ["status", "primary_identity", "created_at", "sessions_valid_after"], id)
}

/// The account `id`'s other columns, by their names in `row`: status, primary identity,
/// creation time, sessions valid after.
fn account_columns_from_row(row: &AnyRow, names: [&str; 4], id: String) -> Result<Account, AccountError> {
    let [status, primary, created, valid_after] = names;
    let status: String = row.try_get(status).map_err(corrupt)?;
    let status = AccountStatus::from_db(&status)
        .ok_or_else(|| AccountError::Corrupt(format!("account {id} has status `{status}`")))?;
    Ok(Account {
        status,
        primary_identity: row.try_get(primary).map_err(corrupt)?,
        created_at: row.try_get(created).map_err(corrupt)?,
        sessions_valid_after: row.try_get(valid_after).map_err(corrupt)?,
        id: AccountId(id),
    })
}

/// Decode an `identities` row.
pub(super) fn identity_from_row(row: &AnyRow) -> Result<Identity, AccountError> {
    let id: i64 = row.try_get("id").map_err(corrupt)?;
    let claims: String = row.try_get("last_claims").map_err(corrupt)?;
    let last_claims =
        serde_json::from_str(&claims).map_err(|e| AccountError::Corrupt(format!("identity {id}: last_claims: {e}")))?;
    Ok(Identity {
        id,
        issuer: row.try_get("issuer").map_err(corrupt)?,
        subject: row.try_get("subject").map_err(corrupt)?,
        provider_id: row.try_get("provider_id").map_err(corrupt)?,
        account_id: AccountId(row.try_get("account_id").map_err(corrupt)?),
        email: row.try_get("email").map_err(corrupt)?,
        email_verified: flag(row, "email_verified", id)?,
        name: row.try_get("name").map_err(corrupt)?,
        can_sign_in: flag(row, "can_sign_in", id)?,
        linked_at: row.try_get("linked_at").map_err(corrupt)?,
        last_login_at: row.try_get("last_login_at").map_err(corrupt)?,
        last_claims,
    })
}

/// A 0/1 flag column.
fn flag(row: &AnyRow, column: &str, id: i64) -> Result<bool, AccountError> {
    match row.try_get::<i64, _>(column).map_err(corrupt)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(AccountError::Corrupt(format!("identity {id}: {column} = {v}"))),
    }
}

/// A value that would not decode.
pub(super) fn corrupt(e: sqlx::Error) -> AccountError {
    AccountError::Corrupt(e.to_string())
}

/// A database failure: logged in full, reported short.
pub(super) fn unavailable(e: sqlx::Error) -> AccountError {
    tracing::warn!(error = %e, "account store query failed");
    crate::metrics::store_error("sql");
    let what = match &e {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        sqlx::Error::PoolClosed => "connection pool closed".to_owned(),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => "connection failed".to_owned(),
        sqlx::Error::Database(d) => format!("database error: {}", d.message()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            return AccountError::Corrupt(e.to_string());
        }
        _ => "query failed".to_owned(),
    };
    AccountError::Unavailable(what)
}
