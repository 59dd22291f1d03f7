//! Changes to accounts and their links in SQL: link, unlink, sign-in switch, primary, move,
//! merge, disable, delete. Each is one transaction that first locks the account row(s) with a
//! write (so concurrent changes to one account queue up, on SQLite and PostgreSQL alike), checks
//! its rules against what is committed, writes the change, revokes the account's refresh-token
//! grants, marks the account's browser sessions over (`sessions_valid_after`), and records an
//! audit event, a webhook outbox entry and (for changes of links) the emails to the person in
//! the same transaction.

use serde_json::json;
use sqlx::AnyConnection;
use sqlx::{Any, Row, Transaction};

use super::sql::{SqlAccountStore, identity_from_row, insert_identity, unavailable};
use super::{AccountError, AccountId, Actor, ExternalIdentity, Identity, LinkOutcome, Refusal, SignInProviders};
use crate::clock::UnixMillis;

const IDENTITY_COLUMNS: &str = "id, issuer, subject, provider_id, account_id, email, email_verified, name, \
                                can_sign_in, linked_at, last_login_at, last_claims";

type Tx = Transaction<'static, Any>;

/// Changes after which the account itself is over for applications (logout tokens with `sub`).
const ACCOUNT_ENDS: [&str; 3] = ["account.disabled", "account.merged", "account.deleted"];

/// What one change records.
pub(super) struct Event<'a> {
    pub action: &'a str,
    pub account: &'a AccountId,
    pub other: Option<&'a AccountId>,
    pub identity: Option<&'a Identity>,
}

impl SqlAccountStore {
    async fn begin(&self) -> Result<Tx, AccountError> {
        self.db().pool.begin().await.map_err(unavailable)
    }

    /// Lock the account row with a write that raises its version (so SQLite takes its write lock
    /// and PostgreSQL the row lock). Refused when it does not exist, when the actor expected
    /// another version (`Changed`), or when `active` is asked and it is not active.
    async fn lock(
        tx: &mut AnyConnection,
        account: &AccountId,
        active: bool,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        let expect = actor.expects(account);
        let mut sql = String::from("UPDATE accounts SET updated_at = $1, version = version + 1 WHERE id = $2");
        if active {
            sql.push_str(" AND status = 'active'");
        }
        if expect.is_some() {
            sql.push_str(" AND version = $3");
        }
        let mut q = sqlx::query(&sql).bind(now).bind(account.as_str());
        if let Some(v) = expect {
            q = q.bind(v);
        }
        if q.execute(&mut *tx).await.map_err(unavailable)?.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        let row = sqlx::query("SELECT version FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Ok(Err(Refusal::NotFound)) };
        let version: i64 = row.try_get("version").map_err(unavailable)?;
        Ok(Err(if expect.is_some_and(|v| v != version) { Refusal::Changed } else { Refusal::NotActive }))
    }

    /// Begin a change of one identity of `account`: the account locked (active if asked), the
    /// identity read under the lock.
    async fn begin_on_identity(
        &self,
        account: &AccountId,
        identity: i64,
        active: bool,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(Tx, Identity), Refusal>, AccountError> {
        let mut tx = self.begin().await?;
        if let Err(r) = Self::lock(&mut tx, account, active, actor, now).await? {
            return Ok(Err(r));
        }
        match Self::identity_on(&mut tx, account, identity).await? {
            Some(found) => Ok(Ok((tx, found))),
            None => Ok(Err(Refusal::NotFound)),
        }
    }

    async fn identity_on(
        tx: &mut AnyConnection,
        account: &AccountId,
        identity: i64,
    ) -> Result<Option<Identity>, AccountError> {
        let row = sqlx::query(&format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = $1 AND account_id = $2"))
            .bind(identity)
            .bind(account.as_str())
            .fetch_optional(tx)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn primary_of(tx: &mut AnyConnection, account: &AccountId) -> Result<Option<i64>, AccountError> {
        let row = sqlx::query("SELECT primary_identity FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(tx)
            .await
            .map_err(unavailable)?;
        Ok(row.and_then(|r| r.try_get::<Option<i64>, _>("primary_identity").ok().flatten()))
    }

    /// How many identities of the account other than `except` can sign in: allowed to, and of a
    /// provider in `usable`.
    async fn other_sign_ins(
        tx: &mut AnyConnection,
        account: &AccountId,
        except: i64,
        usable: &SignInProviders,
    ) -> Result<i64, AccountError> {
        if usable.0.is_empty() {
            return Ok(0);
        }
        let placeholders: Vec<String> = (0..usable.0.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT COUNT(*) AS n FROM identities WHERE account_id = $1 AND can_sign_in = 1 AND id <> $2 \
             AND provider_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(account.as_str()).bind(except);
        for p in &usable.0 {
            q = q.bind(p.as_str());
        }
        let row = q.fetch_one(tx).await.map_err(unavailable)?;
        row.try_get::<i64, _>("n").map_err(unavailable)
    }

    /// Revoke the account's grants, mark every browser session made so far over (the durable
    /// half of ending them: a session store that fails afterwards cannot leave one alive), write
    /// the audit event and the outbox entry. Both accounts of a move or merge.
    async fn record(tx: &mut AnyConnection, actor: &Actor, e: Event<'_>, now: UnixMillis) -> Result<(), AccountError> {
        for account in std::iter::once(e.account).chain(e.other) {
            // The applications are told (back-channel logout) before the grants are revoked.
            let ended = if account == e.account && ACCOUNT_ENDS.contains(&e.action) {
                crate::notify::logout_outbox::Ended::Account(account)
            } else {
                crate::notify::logout_outbox::Ended::Sessions(account)
            };
            crate::notify::logout_outbox::enqueue(&mut *tx, ended, now).await.map_err(unavailable)?;
            sqlx::query("UPDATE accounts SET sessions_valid_after = $1 WHERE id = $2 AND sessions_valid_after < $1")
                .bind(now)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            sqlx::query("UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let (issuer, subject) = match e.identity {
            Some(i) => (Some(i.issuer.as_str()), Some(i.subject.as_str())),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO audit_events (at, actor, ip, action, account_id, other_account_id, issuer, subject) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now)
        .bind(&actor.who)
        .bind(actor.ip.as_deref())
        .bind(e.action)
        .bind(e.account.as_str())
        .bind(e.other.map(AccountId::as_str))
        .bind(issuer)
        .bind(subject)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let event_id = crate::ids::random_token(16);
        let event = json!({
            "id": event_id,
            "type": e.action,
            "at": now,
            "account": e.account.as_str(),
            "other_account": e.other.map(AccountId::as_str),
            "identity": e.identity.map(|i| json!({"issuer": i.issuer, "subject": i.subject, "provider": i.provider_id})),
            "actor": actor.who,
        });
        crate::notify::enqueue(&mut *tx, &event, now).await.map_err(unavailable)?;
        if crate::notify::message::notifies(e.action) {
            Self::enqueue_emails(tx, actor, &e, &event_id, now).await?;
        }
        Ok(())
    }

    /// Write the emails to the person about `e` into the outbox: one to each verified address of
    /// the account(s) concerned, as committed in this transaction (after the change), and to the
    /// identity's own verified address (which an unlink has just removed from the account).
    async fn enqueue_emails(
        tx: &mut AnyConnection,
        actor: &Actor,
        e: &Event<'_>,
        event_id: &str,
        now: UnixMillis,
    ) -> Result<(), AccountError> {
        let other = e.other.unwrap_or(e.account);
        let rows = sqlx::query(
            "SELECT email FROM identities WHERE account_id IN ($1, $2) AND email_verified = 1 \
             AND email IS NOT NULL ORDER BY id",
        )
        .bind(e.account.as_str())
        .bind(other.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let mut to = Vec::with_capacity(rows.len() + 1);
        if let Some(i) = e.identity.filter(|i| i.email_verified) {
            to.extend(i.email.clone());
        }
        for row in &rows {
            to.push(row.try_get::<String, _>("email").map_err(unavailable)?);
        }
        let facts = crate::notify::message::ChangeFacts {
            action: e.action.to_owned(),
            at: now,
            ip: actor.ip.clone(),
            actor: actor.who.clone(),
            account: e.account.to_string(),
            other_account: e.other.map(AccountId::to_string),
            identity: e.identity.map(|i| crate::notify::message::IdentityFacts {
                issuer: i.issuer.clone(),
                subject: i.subject.clone(),
                email: i.email.clone(),
            }),
        };
        crate::notify::email_outbox::enqueue(tx, event_id, &facts, &to, now).await.map_err(unavailable)?;
        Ok(())
    }

    pub(super) async fn link_impl(
        &self,
        account: &AccountId,
        provider_id: &str,
        ext: &ExternalIdentity,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<LinkOutcome, AccountError> {
        let claims = serde_json::to_string(&ext.claims).map_err(|e| AccountError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        match Self::lock(&mut tx, account, true, actor, now).await? {
            Ok(()) => {}
            Err(Refusal::Changed) => return Ok(LinkOutcome::Changed),
            Err(_) => return Ok(LinkOutcome::AccountNotActive),
        }
        let inserted = insert_identity(&mut tx, account, provider_id, ext, &claims, now, None).await?;
        if let Some(identity) = inserted {
            Self::record(
                &mut tx,
                actor,
                Event { action: "identity.linked", account, other: None, identity: Some(&identity) },
                now,
            )
            .await?;
            tx.commit().await.map_err(unavailable)?;
            self.changed("identity.linked");
            return Ok(LinkOutcome::Linked(identity));
        }
        tx.rollback().await.map_err(unavailable)?;
        match self.find_identity_impl(&ext.issuer, &ext.subject).await? {
            Some(i) if i.account_id == *account => Ok(LinkOutcome::AlreadyOnThisAccount(i)),
            _ => Ok(LinkOutcome::OnAnotherAccount),
        }
    }

    pub(super) async fn unlink_impl(
        &self,
        account: &AccountId,
        identity: i64,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<Identity, Refusal>, AccountError> {
        let (mut tx, found) = match self.begin_on_identity(account, identity, false, actor, now).await? {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        if Self::primary_of(&mut tx, account).await? == Some(identity) {
            return Ok(Err(Refusal::Primary));
        }
        if found.can_sign_in && Self::other_sign_ins(&mut tx, account, identity, usable).await? == 0 {
            return Ok(Err(Refusal::LastSignIn));
        }
        sqlx::query("DELETE FROM identities WHERE id = $1")
            .bind(identity)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Self::record(
            &mut tx,
            actor,
            Event { action: "identity.unlinked", account, other: None, identity: Some(&found) },
            now,
        )
        .await?;
        tx.commit().await.map_err(unavailable)?;
        self.changed("identity.unlinked");
        Ok(Ok(found))
    }

    /// Allow or forbid sign-in with one identity (`can_sign_in`) and/or make it its account's
    /// primary, in one transaction; never forbid the last one that can sign in (through one of
    /// `usable`). Nothing to change writes nothing.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn update_identity_impl(
        &self,
        account: &AccountId,
        identity: i64,
        can_sign_in: Option<bool>,
        primary: bool,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        let (mut tx, found) = match self.begin_on_identity(account, identity, true, actor, now).await? {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        let mut actions = Vec::new();
        if let Some(allowed) = can_sign_in.filter(|a| *a != found.can_sign_in) {
            if !allowed && Self::other_sign_ins(&mut tx, account, identity, usable).await? == 0 {
                return Ok(Err(Refusal::LastSignIn));
            }
            sqlx::query("UPDATE identities SET can_sign_in = $1 WHERE id = $2")
                .bind(i64::from(allowed))
                .bind(identity)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            actions.push(if allowed { "identity.sign_in_allowed" } else { "identity.sign_in_forbidden" });
        }
        if primary && Self::primary_of(&mut tx, account).await? != Some(identity) {
            sqlx::query("UPDATE accounts SET primary_identity = $1 WHERE id = $2")
                .bind(identity)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            actions.push("account.primary_changed");
        }
        if actions.is_empty() {
            return Ok(Ok(()));
        }
        for action in &actions {
            Self::record(&mut tx, actor, Event { action, account, other: None, identity: Some(&found) }, now).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        for action in actions {
            self.changed(action);
        }
        Ok(Ok(()))
    }

    /// Lock two accounts in id order (no deadlock between opposite moves).
    async fn lock_pair(
        tx: &mut AnyConnection,
        a: &AccountId,
        b: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        let (first, second) = if a.as_str() <= b.as_str() { (a, b) } else { (b, a) };
        if let Err(r) = Self::lock(tx, first, false, actor, now).await? {
            return Ok(Err(r));
        }
        Self::lock(tx, second, false, actor, now).await
    }

    async fn is_active(tx: &mut AnyConnection, account: &AccountId) -> Result<bool, AccountError> {
        let row = sqlx::query("SELECT status FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(tx)
            .await
            .map_err(unavailable)?;
        Ok(row.and_then(|r| r.try_get::<String, _>("status").ok()).as_deref() == Some("active"))
    }

    pub(super) async fn move_impl(
        &self,
        identity: i64,
        to: &AccountId,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<AccountId, Refusal>, AccountError> {
        let Some(from) = self.identity_by_id(identity).await?.map(|i| i.account_id) else {
            return Ok(Err(Refusal::NotFound));
        };
        if from == *to {
            return Ok(Err(Refusal::SameAccount));
        }
        let mut tx = self.begin().await?;
        if let Err(r) = Self::lock_pair(&mut tx, &from, to, actor, now).await? {
            return Ok(Err(r));
        }
        if !Self::is_active(&mut tx, to).await? {
            return Ok(Err(Refusal::NotActive));
        }
        // Re-read under the locks: the identity may have moved meanwhile.
        let Some(found) = Self::identity_on(&mut tx, &from, identity).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if Self::primary_of(&mut tx, &from).await? == Some(identity) {
            return Ok(Err(Refusal::Primary));
        }
        if found.can_sign_in && Self::other_sign_ins(&mut tx, &from, identity, usable).await? == 0 {
            return Ok(Err(Refusal::LastSignIn));
        }
        sqlx::query("UPDATE identities SET account_id = $1 WHERE id = $2")
            .bind(to.as_str())
            .bind(identity)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Self::record(
            &mut tx,
            actor,
            Event { action: "identity.moved", account: &from, other: Some(to), identity: Some(&found) },
            now,
        )
        .await?;
        tx.commit().await.map_err(unavailable)?;
        self.changed("identity.moved");
        Ok(Ok(from))
    }

    pub(super) async fn merge_impl(
        &self,
        from: &AccountId,
        into: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<usize, Refusal>, AccountError> {
        if from == into {
            return Ok(Err(Refusal::SameAccount));
        }
        let mut tx = self.begin().await?;
        if let Err(r) = Self::lock_pair(&mut tx, from, into, actor, now).await? {
            return Ok(Err(r));
        }
        if !Self::is_active(&mut tx, into).await? || !Self::is_active(&mut tx, from).await? {
            return Ok(Err(Refusal::NotActive));
        }
        let moved = sqlx::query("UPDATE identities SET account_id = $1 WHERE account_id = $2")
            .bind(into.as_str())
            .bind(from.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        sqlx::query("UPDATE accounts SET status = $1, primary_identity = NULL WHERE id = $2")
            .bind(format!("merged_into:{into}"))
            .bind(from.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Self::record(
            &mut tx,
            actor,
            Event { action: "account.merged", account: from, other: Some(into), identity: None },
            now,
        )
        .await?;
        tx.commit().await.map_err(unavailable)?;
        self.changed("account.merged");
        Ok(Ok(usize::try_from(moved).unwrap_or(usize::MAX)))
    }

    pub(super) async fn set_disabled_impl(
        &self,
        account: &AccountId,
        disabled: bool,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        let mut tx = self.begin().await?;
        let (from, to, action) = if disabled {
            ("active", "disabled", "account.disabled")
        } else {
            ("disabled", "active", "account.enabled")
        };
        if let Err(r) = Self::lock(&mut tx, account, false, actor, now).await? {
            return Ok(Err(r));
        }
        let n = sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2 AND status = $3")
            .bind(to)
            .bind(account.as_str())
            .bind(from)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        if n == 0 {
            return Ok(Err(Refusal::NotActive));
        }
        Self::record(&mut tx, actor, Event { action, account, other: None, identity: None }, now).await?;
        tx.commit().await.map_err(unavailable)?;
        self.changed(action);
        Ok(Ok(()))
    }

    pub(super) async fn delete_impl(
        &self,
        account: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        let mut tx = self.begin().await?;
        if let Err(r) = Self::lock(&mut tx, account, false, actor, now).await? {
            return Ok(Err(r));
        }
        Self::record(&mut tx, actor, Event { action: "account.deleted", account, other: None, identity: None }, now)
            .await?;
        sqlx::query("DELETE FROM identities WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM grants WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        self.changed("account.deleted");
        Ok(Ok(()))
    }
}
