//! The core model: accounts, the upstream identities linked to them, and the `AccountStore`
//! that resolves an identity to exactly one account. Knows nothing of HTTP, Redis or protocols.

mod changes;
mod model;
mod search;
mod sql;

pub use model::*;
pub use search::{AccountQuery, AuditQuery};
pub use sql::SqlAccountStore;

/// The account store's hot SQL statements (sign-in and the trust re-check), checked against
/// their query plans by the tests.
pub mod queries {
    pub use super::sql::{
        ACCOUNT_BY_ID, ACCOUNT_WITH_IDENTITIES, AUDIT_SIGN_IN, IDENTITIES_OF, IDENTITY_BY_ID, IDENTITY_BY_KEY,
        RECORD_LOGIN, SIGN_IN_AUDITED,
    };
}

use async_trait::async_trait;

use crate::clock::UnixMillis;

/// A failure of the account store.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database could not be reached or failed.
    #[error("account store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("account store data is corrupt: {0}")]
    Corrupt(String),
}

/// Durable home of accounts and identities.
///
/// Uniqueness of (issuer, subject) is enforced by the database; implementations never decide it
/// by a read followed by a write.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// A count that grows with every change to accounts or links this process commits (link,
    /// unlink, switch, primary, move, merge, disable, enable, delete); caches of what was read
    /// compare it to know they are stale.
    fn changes(&self) -> u64 {
        0
    }

    /// The identity keyed by (issuer, subject), if any.
    async fn find_identity(&self, issuer: &str, subject: &str) -> Result<Option<Identity>, AccountError>;

    /// Resolve an upstream identity under the `create` policy: the account of a known identity
    /// (recording this login), or a new account with the identity as its primary. Concurrent
    /// calls for one identity yield one account.
    async fn resolve_or_create(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        now: UnixMillis,
    ) -> Result<Resolved, AccountError>;

    /// A sign-in in at most one SQL write: as `resolve_or_create` (`create`) or `sign_in_known`,
    /// and when `audit` is set and the sign-in is allowed (the identity may sign in, the account
    /// is active) its `identity.signed_in` audit row (from `ip`) is written in the same
    /// statement or transaction as the last-login update (`Resolved::audited`). A refused
    /// sign-in is recorded as a login and never audited as signed in. `None`: unknown identity
    /// and not `create`.
    async fn sign_in(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        create: bool,
        audit: bool,
        ip: Option<&str>,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError>;

    /// Record a sign-in of a known identity (as `resolve_or_create` does) and never create one:
    /// `None` if the identity is unknown.
    async fn sign_in_known(
        &self,
        provider_id: &str,
        ext: &ExternalIdentity,
        now: UnixMillis,
    ) -> Result<Option<Resolved>, AccountError>;

    /// An account by id.
    async fn account(&self, id: &AccountId) -> Result<Option<Account>, AccountError>;

    /// An identity by its store id.
    async fn identity(&self, id: i64) -> Result<Option<Identity>, AccountError>;

    /// The identities of an account, oldest link first.
    async fn identities(&self, id: &AccountId) -> Result<Vec<Identity>, AccountError>;

    /// An account and its identities (oldest link first), read together (the trust re-check
    /// and the claims of the tokens it allows).
    async fn account_with_identities(&self, id: &AccountId) -> Result<Option<(Account, Vec<Identity>)>, AccountError> {
        let Some(account) = self.account(id).await? else { return Ok(None) };
        Ok(Some((account, self.identities(id).await?)))
    }

    /// Check that the store answers.
    async fn ping(&self) -> Result<(), AccountError>;

    /// Link `ext` (seen through `provider_id`) to the active account `account`. Race-safe: of two
    /// concurrent links of one identity to two accounts, exactly one succeeds.
    async fn link(
        &self,
        account: &AccountId,
        provider_id: &str,
        ext: &ExternalIdentity,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<LinkOutcome, AccountError>;

    /// Remove an identity from its account; never the primary, never the last that can sign in
    /// (through one of `usable`).
    async fn unlink(
        &self,
        account: &AccountId,
        identity: i64,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<Identity, Refusal>, AccountError>;

    /// Allow or forbid sign-in with one identity; never forbid the last one that can (through
    /// one of `usable`).
    async fn set_can_sign_in(
        &self,
        account: &AccountId,
        identity: i64,
        allowed: bool,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        self.update_identity(account, identity, Some(allowed), false, usable, actor, now).await
    }

    /// Make an identity of the account its primary.
    async fn set_primary(
        &self,
        account: &AccountId,
        identity: i64,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError> {
        self.update_identity(account, identity, None, true, &SignInProviders::default(), actor, now).await
    }

    /// Allow or forbid sign-in with one identity and/or make it its account's primary, in one
    /// transaction (the admin API's `PATCH` of an identity; the two above are its halves).
    #[allow(clippy::too_many_arguments)]
    async fn update_identity(
        &self,
        account: &AccountId,
        identity: i64,
        can_sign_in: Option<bool>,
        primary: bool,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError>;

    /// The account's version: raised by every change of it or of its links (`None`: no such
    /// account). An admin's `If-Match` is enforced against it ([`Actor::expect`]).
    async fn account_version(&self, id: &AccountId) -> Result<Option<i64>, AccountError>;

    /// Move an identity to another account (admin); not the primary, not the last that can sign
    /// in. Returns the account it came from.
    async fn move_identity(
        &self,
        identity: i64,
        to: &AccountId,
        usable: &SignInProviders,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<AccountId, Refusal>, AccountError>;

    /// Move every identity of `from` to `into` and mark `from` merged into `into` (admin).
    async fn merge(
        &self,
        from: &AccountId,
        into: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<usize, Refusal>, AccountError>;

    /// Disable (or enable again) an account (admin).
    async fn set_disabled(
        &self,
        account: &AccountId,
        disabled: bool,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError>;

    /// Delete an account with its identities and grants (admin).
    async fn delete(
        &self,
        account: &AccountId,
        actor: &Actor,
        now: UnixMillis,
    ) -> Result<Result<(), Refusal>, AccountError>;

    /// Active accounts having a verified identity with this email (case-insensitive).
    async fn accounts_with_verified_email(&self, email: &str) -> Result<Vec<AccountId>, AccountError>;

    /// Accounts with an identity carrying this email, verified or not (admin lookups).
    async fn accounts_with_email(&self, email: &str) -> Result<Vec<AccountId>, AccountError>;

    /// Up to `limit` accounts matching `q` whose ids come after `after`, in id order (admin
    /// search, paged by the last id seen).
    async fn search(&self, q: &AccountQuery, after: Option<&str>, limit: u32) -> Result<Vec<Account>, AccountError>;

    /// Up to `limit` audit events matching `q` with ids below `before`, newest first (paged by
    /// the last id seen).
    async fn audit_page(
        &self,
        q: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AccountError>;

    /// The audit log of an account, oldest first.
    async fn audit(&self, account: &AccountId) -> Result<Vec<AuditEvent>, AccountError>;

    /// Record an admin API call that changed nothing by itself (`admin.read`, `admin.refused`)
    /// in the audit log: who, the account it concerns (if any) and what was asked (`target`).
    async fn audit_admin_call(
        &self,
        actor: &Actor,
        action: &str,
        account: Option<&AccountId>,
        target: &str,
        now: UnixMillis,
    ) -> Result<(), AccountError>;

    /// Record a sign-in with `identity` in the audit log (no notification).
    async fn audit_sign_in(&self, identity: &Identity, ip: Option<&str>, now: UnixMillis) -> Result<(), AccountError>;

    /// The identity keyed by (issuer, subject) together with its account, if the identity is
    /// known. Records no login (unlike `resolve_or_create`).
    async fn account_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<(Account, Identity)>, AccountError> {
        let Some(identity) = self.find_identity(issuer, subject).await? else {
            return Ok(None);
        };
        match self.account(&identity.account_id).await? {
            Some(account) => Ok(Some((account, identity))),
            None => Err(AccountError::Corrupt(format!(
                "identity {} points at missing account {}",
                identity.id, identity.account_id
            ))),
        }
    }
}
